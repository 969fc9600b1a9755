from .loading import CheckedLoadImageFromFile
from .rle_to_polygons import RLEToPolygons, mask_to_polygons, rle_to_polygons

__all__ = [
    'CheckedLoadImageFromFile', 'RLEToPolygons', 'mask_to_polygons',
    'rle_to_polygons'
]
