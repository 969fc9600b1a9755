from .polygons import DROP_REASONS, PolygonTensor, regular_polygon
from .rle_masks import RLEMask, RLEMasks

__all__ = [
    'PolygonTensor', 'DROP_REASONS', 'regular_polygon', 'RLEMask', 'RLEMasks'
]
