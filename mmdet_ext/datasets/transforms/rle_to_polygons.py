"""Turn RLE-encoded object masks into polygons for polygon-based models.

COCO-format files may annotate ordinary objects (``iscrowd=0``) with an RLE
instead of polygons (masks converted from segmentation maps, LVIS-style
exports). With ``poly2mask=False``, which the polar models need to keep
every part as a polygon, MMDetection's ``LoadAnnotations`` marks such an
object *ignored*, so the polar heads would train on it as background.
:class:`RLEToPolygons`, placed before ``LoadAnnotations``, traces the outer
contours of each such mask (every part, holes filled, as COCO polygons,
with :func:`~mmdet_ext.structures.mask_tracing.rle_to_polygons`) so the
object is kept. Crowd regions stay RLE and stay ignored.
:class:`LoadPolygonAnnotations` does both steps in one transform.

An object without a usable mask is *ignored* (``ignore_flag=1``, moved to
``ignored_instances`` like a crowd region: no model trains on it as an
object): no segmentation at all (key missing, ``null``, ``[]``: box-only
objects of exported datasets, on which MMDetection's ``LoadAnnotations``
raises ``KeyError: 'mask'``), an RLE that does not describe a mask of the
image (:func:`~mmdet_ext.utils.data_check.rle_defect`) or an empty one, and
(MMDetection's rule) polygons without a part of 3 points.
"""
from mmcv.transforms import BaseTransform

from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import TRANSFORMS
# mask_to_polygons is re-exported: the dataset converters import it here.
from mmdet_ext.structures.mask_tracing import (  # noqa: F401
    mask_to_polygons, rle_to_polygons)
from mmdet_ext.utils.data_check import rle_defect


@TRANSFORMS.register_module()
class RLEToPolygons(BaseTransform):
    """Replace the RLE mask of every non-ignored instance by polygons.

    Required keys: ``instances`` (``mask``, ``ignore_flag``), ``height``
    and ``width`` (or ``ori_shape``). Modified keys: ``instances``.

    Instances whose RLE is empty, or does not describe a mask of the image
    (:func:`~mmdet_ext.utils.data_check.rle_defect`: pycocotools would
    raise or read past the runs), keep their RLE, so ``LoadAnnotations``
    ignores them.
    """

    def transform(self, results: dict) -> dict:
        height = results.get('height') or results['ori_shape'][0]
        width = results.get('width') or results['ori_shape'][1]
        for instance in results.get('instances', []):
            mask = instance.get('mask')
            if not isinstance(mask, dict) or instance.get('ignore_flag', 0):
                continue
            if rle_defect(mask, height, width) is not None:
                continue
            polygons = rle_to_polygons(mask, height, width)
            if polygons:
                instance['mask'] = polygons
        return results


@TRANSFORMS.register_module()
class LoadPolygonAnnotations(LoadAnnotations):
    """MMDetection's ``LoadAnnotations`` with masks kept as polygons and
    RLE-encoded objects turned into polygons first (:class:`RLEToPolygons`).

    A drop-in replacement at the same pipeline position (configs that
    override ``train_pipeline[i]`` by index keep working). Objects without
    a usable mask are ignored (module docstring) instead of raising.

    Args:
        **kwargs: As :class:`mmdet.datasets.transforms.LoadAnnotations`;
            ``poly2mask`` is always False.
    """

    def __init__(self, **kwargs) -> None:
        if kwargs.pop('poly2mask', False):
            raise ValueError('LoadPolygonAnnotations keeps polygons: use '
                             'LoadAnnotations for poly2mask=True')
        super().__init__(poly2mask=False, **kwargs)
        self.rle_to_polygons = RLEToPolygons()

    def transform(self, results: dict) -> dict:
        if self.with_mask:
            for instance in results.get('instances', []):
                # CocoDataset gives no 'mask' to an object whose segmentation
                # is missing or empty; an empty polygon list is what
                # LoadAnnotations ignores (with a placeholder mask).
                if not instance.get('mask'):
                    instance['mask'] = []
            results = self.rle_to_polygons(results)
        return super().transform(results)
