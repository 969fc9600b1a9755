"""Binary masks and COCO RLEs traced into exact COCO polygons.

The one mask-to-polygon tracer of the project (dataset loading, the toy
data generator, the dataset converters and the analysis tools all use it).
Its pixel convention is pycocotools': pixel (i, j) is the unit square
``[j, j + 1] x [i, i + 1]``, and the polygons run along the pixel
*corners*, so pycocotools rasterises them back to the mask exactly (holes
too with ``keep_holes``). ``cv2.findContours`` alone gives the centres of
the boundary pixels, half a pixel inside; mmdet's ``bitmap_to_polygon``
returns those.

:func:`gt_polygon_tensor` (through :func:`instance_polygons`) is the one
way from ground truth, COCO segmentations or mmdet masks, to a
:class:`PolygonTensor`.
"""
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

from mmdet.structures.mask import BitmapMasks
from .polygons import PolygonTensor, shoelace_area

Polygons = List[List[float]]


def gt_polygon_tensor(masks: Union[BitmapMasks, Sequence],
                      device: Union[str, torch.device, None] = None,
                      dtype: torch.dtype = torch.float32) -> PolygonTensor:
    """Ground truth of any form as a :class:`PolygonTensor`, one row per
    object (objects without a usable part are invalid rows).

    Args:
        masks (BitmapMasks | PolygonMasks | Sequence): See
            :func:`instance_polygons`.
        device (str | torch.device, optional): Target device (CPU default).
        dtype (torch.dtype): Float dtype of the vertices.

    Returns:
        PolygonTensor: N = number of objects in ``masks``.
    """
    return PolygonTensor.from_polygon_masks(
        instance_polygons(masks), device, dtype)


def instance_polygons(masks: Union[BitmapMasks, Sequence]) -> List[Sequence]:
    """Polygon parts of every object of some ground truth.

    Polygons are kept as they are; masks are traced by
    :func:`mask_to_polygons`:

    - a COCO RLE (a ``dict`` instead of an object's list of parts) gives
      its outer outlines, holes filled, which is what ``RLEToPolygons`` /
      ``LoadPolygonAnnotations`` hand to the polar heads in training;
    - a bitmap of ``BitmapMasks`` (``poly2mask=True`` pipelines) keeps its
      holes, each joined to its outline by a zero-width cut, so the
      polygons cover exactly the bitmap's pixels, under pycocotools and
      under the even-odd rule of the polar geometry alike.

    Args:
        masks (BitmapMasks | PolygonMasks | Sequence): mmdet masks, or a
            list over objects of either a list of flat parts
            ``[x0, y0, x1, y1, ...]`` (COCO polygons) or an RLE dict
            (``size`` and ``counts``, compressed or not).

    Returns:
        list: Per object, its flat parts (untouched polygon lists, or
        lists of floats of at least 3 vertices for traced masks; an empty
        mask gives no part).
    """
    if isinstance(masks, BitmapMasks):
        return [mask_to_polygons(bitmap, keep_holes=True)
                for bitmap in masks.masks]
    return [
        rle_to_polygons(parts) if isinstance(parts, dict) else parts
        for parts in getattr(masks, 'masks', masks)
    ]


def rle_to_polygons(rle: dict,
                    height: Optional[int] = None,
                    width: Optional[int] = None) -> Polygons:
    """Outer outlines of an RLE mask (holes filled) as flat COCO polygons.

    Args:
        rle (dict): ``size`` and ``counts`` (compressed string or bytes, or
            an uncompressed list of run lengths).
        height (int, optional): Image height, used only when the RLE has
            no ``size``.
        width (int, optional): Image width, likewise.

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


def _join_hole(outline: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``outline`` with ``hole`` spliced in through a zero-width cut between
    their closest vertices (see :func:`mask_to_polygons`)."""
    # float64: int32 shoelace products overflow on large masks
    outline_ccw = shoelace_area(outline.astype(np.float64)) > 0
    if (shoelace_area(hole.astype(np.float64)) > 0) == outline_ccw:
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
