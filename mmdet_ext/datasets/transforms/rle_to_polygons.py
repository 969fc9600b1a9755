"""Turn RLE-encoded object masks into polygons for polygon-based models.

COCO-format files may annotate ordinary objects (``iscrowd=0``) with an RLE
instead of polygons (masks converted from segmentation maps, LVIS-style
exports). With ``poly2mask=False``, which the polar models need to keep
every part as a polygon, MMDetection's ``LoadAnnotations`` marks such an
object *ignored*, so the polar heads would train on it as background.
:class:`RLEToPolygons`, placed before ``LoadAnnotations``, traces the outer
contours of each such mask (every part, holes filled, as COCO polygons) so
the object is kept. Crowd regions stay RLE and stay ignored.
:class:`LoadPolygonAnnotations` does both steps in one transform.
"""
from typing import List

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from pycocotools import mask as mask_utils

from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import TRANSFORMS


def rle_to_polygons(rle: dict, height: int, width: int) -> List[List[float]]:
    """Outer contours of an RLE mask as flat COCO polygons.

    Args:
        rle (dict): ``size`` and ``counts`` (compressed string or bytes, or
            an uncompressed list of run lengths).
        height (int): Image height (used for uncompressed RLEs without a
            matching ``size``).
        width (int): Image width.

    Returns:
        list[list[float]]: See :func:`mask_to_polygons`.
    """
    h, w = rle.get('size', (height, width))
    counts = rle['counts']
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects(dict(size=[h, w], counts=counts), h, w)
    elif isinstance(counts, str):
        rle = dict(size=[h, w], counts=counts.encode())
    return mask_to_polygons(mask_utils.decode(rle))


def mask_to_polygons(mask: np.ndarray,
                     drop_collinear: bool = False) -> List[List[float]]:
    """Outer pixel-boundary polygons of a binary mask, one per part.

    ``cv2.findContours`` returns the centres of the boundary pixels; on the
    mask upsampled 2x those centres lie on every pixel edge, and ``u ->
    ceil(u / 2)`` maps them to the pixel corners of the original mask, so
    the polygons rasterise (pycocotools) to the mask with holes filled.

    Args:
        mask (np.ndarray): (H, W) binary mask.
        drop_collinear (bool): Also remove vertices on a straight line
            between their neighbours (same rasterisation, fewer vertices).

    Returns:
        list[list[float]]: Flat ``[x0, y0, x1, y1, ...]`` polygons with at
        least 3 vertices; empty for an empty mask.
    """
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    up = mask.repeat(2, axis=0).repeat(2, axis=1)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        corners = (contour.reshape(-1, 2) + 1) // 2
        # upsampled neighbours can map to the same corner
        keep = np.any(corners != np.roll(corners, 1, axis=0), axis=1)
        corners = corners[keep]
        if drop_collinear and len(corners) >= 3:
            corners = _drop_collinear(corners)
        if len(corners) >= 3:
            polygons.append(corners.astype(np.float64).reshape(-1).tolist())
    return polygons


def _drop_collinear(pts: np.ndarray) -> np.ndarray:
    """Vertices of a closed polygon that are not on the line between their
    neighbours."""
    prev, nxt = np.roll(pts, 1, axis=0), np.roll(pts, -1, axis=0)
    cross = ((pts[:, 0] - prev[:, 0]) * (nxt[:, 1] - pts[:, 1]) -
             (pts[:, 1] - prev[:, 1]) * (nxt[:, 0] - pts[:, 0]))
    return pts[cross != 0]


@TRANSFORMS.register_module()
class RLEToPolygons(BaseTransform):
    """Replace the RLE mask of every non-ignored instance by polygons.

    Required keys: ``instances`` (``mask``, ``ignore_flag``), ``height``
    and ``width`` (or ``ori_shape``). Modified keys: ``instances``.

    Instances whose RLE is empty keep their RLE, so ``LoadAnnotations``
    still ignores them.
    """

    def transform(self, results: dict) -> dict:
        height = results.get('height') or results['ori_shape'][0]
        width = results.get('width') or results['ori_shape'][1]
        for instance in results.get('instances', []):
            mask = instance.get('mask')
            if not isinstance(mask, dict) or instance.get('ignore_flag', 0):
                continue
            if 'counts' not in mask:
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
    override ``train_pipeline[i]`` by index keep working).

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
            results = self.rle_to_polygons(results)
        return super().transform(results)
