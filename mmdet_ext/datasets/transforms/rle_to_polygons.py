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

An object without a usable mask is *ignored* (``ignore_flag=1``, moved to
``ignored_instances`` like a crowd region: no model trains on it as an
object): no segmentation at all (key missing, ``null``, ``[]``: box-only
objects of exported datasets, on which MMDetection's ``LoadAnnotations``
raises ``KeyError: 'mask'``), an RLE that does not describe a mask of the
image (:func:`~mmdet_ext.utils.data_check.rle_defect`) or an empty one, and
(MMDetection's rule) polygons without a part of 3 points.
"""
from typing import List

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from pycocotools import mask as mask_utils

from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import TRANSFORMS
from mmdet_ext.utils.data_check import rle_defect


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
                     drop_collinear: bool = False,
                     keep_holes: bool = False) -> List[List[float]]:
    """Pixel-boundary polygons of a binary mask, one per part.

    ``cv2.findContours`` returns the centres of the boundary pixels; on the
    mask upsampled 2x those centres lie on every pixel edge, and ``u ->
    ceil(u / 2)`` maps them to the pixel corners of the original mask, so
    the polygons rasterise (pycocotools) to the mask. The same mapping
    holds for the boundary of a hole.

    The parts of a COCO polygon segmentation are united, so a hole cannot
    be a part of its own. With ``keep_holes`` each hole is joined to the
    outline of its part by a zero-width cut (the same segment there and
    back): pycocotools rasterises by counting boundary crossings, the two
    copies of the cut cancel, and the polygon rasterises to the mask with
    its holes. Holes run against the outline, so the shoelace area of the
    polygon is the part's area without its holes.

    Args:
        mask (np.ndarray): (H, W) binary mask.
        drop_collinear (bool): Also remove vertices on a straight line
            between their neighbours (same rasterisation, fewer vertices).
        keep_holes (bool): Keep holes (see above). Defaults to False:
            holes are filled, as by most COCO tools.

    Returns:
        list[list[float]]: Flat ``[x0, y0, x1, y1, ...]`` polygons with at
        least 3 vertices; empty for an empty mask.
    """
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    up = mask.repeat(2, axis=0).repeat(2, axis=1)
    mode = cv2.RETR_CCOMP if keep_holes else cv2.RETR_EXTERNAL
    contours, hierarchy = cv2.findContours(up, mode, cv2.CHAIN_APPROX_SIMPLE)
    # hierarchy[0][i][3]: index of the outline around contour i, or -1.
    parents = hierarchy[0][:, 3] if hierarchy is not None else []
    outlines = {}
    for i, contour in enumerate(contours):
        if parents[i] < 0:
            outlines[i] = _contour_corners(contour, drop_collinear)
    for i, contour in enumerate(contours):
        outline = outlines.get(parents[i])
        if parents[i] >= 0 and outline is not None and len(outline) >= 3:
            hole = _contour_corners(contour, drop_collinear)
            if len(hole) >= 3:
                outlines[parents[i]] = _join_hole(outline, hole)
    return [
        corners.astype(np.float64).reshape(-1).tolist()
        for corners in outlines.values() if len(corners) >= 3
    ]


def _contour_corners(contour: np.ndarray, drop_collinear: bool) -> np.ndarray:
    """Pixel corners (K, 2) of a contour traced on the 2x upsampled mask."""
    corners = (contour.reshape(-1, 2) + 1) // 2
    # upsampled neighbours can map to the same corner
    keep = np.any(corners != np.roll(corners, 1, axis=0), axis=1)
    corners = corners[keep]
    if drop_collinear and len(corners) >= 3:
        corners = _drop_collinear(corners)
    return corners


def _signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64)
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _join_hole(outline: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``outline`` with ``hole`` spliced in through a zero-width cut between
    their closest vertices (see :func:`mask_to_polygons`)."""
    if (_signed_area(outline) > 0) == (_signed_area(hole) > 0):
        hole = hole[::-1]
    dist = ((outline[:, None, :] - hole[None, :, :])**2).sum(-1)
    i, j = np.unravel_index(int(dist.argmin()), dist.shape)
    # outline[i] -> hole[j] ... around the hole ... hole[j] -> outline[i]
    loop = np.concatenate([hole[j:], hole[:j + 1]])
    return np.concatenate([outline[:i + 1], loop, outline[i:]])


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
