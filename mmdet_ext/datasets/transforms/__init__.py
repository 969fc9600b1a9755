from .loading import CheckedLoadImageFromFile
from .rle_to_polygons import (LoadPolygonAnnotations, RLEToPolygons,
                              mask_to_polygons, rle_to_polygons)

__all__ = [
    'CheckedLoadImageFromFile', 'LoadPolygonAnnotations', 'RLEToPolygons',
    'mask_to_polygons', 'rle_to_polygons'
]
