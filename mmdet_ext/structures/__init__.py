from .mask_tracing import (gt_polygon_tensor, instance_polygons,
                           mask_to_polygons, rle_to_polygons)
from .polygons import DROP_REASONS, PolygonTensor
from .rle_masks import RLEMask, RLEMasks

__all__ = [
    'PolygonTensor', 'DROP_REASONS', 'RLEMask', 'RLEMasks',
    'gt_polygon_tensor', 'instance_polygons', 'mask_to_polygons',
    'rle_to_polygons'
]
