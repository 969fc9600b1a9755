"""Dataset pieces with a defined behaviour on bad input: image loading that
names unusable files, RLE object masks kept as polygons."""
from .transforms import (CheckedLoadImageFromFile, LoadPolygonAnnotations,
                         RLEToPolygons, mask_to_polygons, rle_to_polygons)

__all__ = [
    'CheckedLoadImageFromFile', 'LoadPolygonAnnotations', 'RLEToPolygons',
    'mask_to_polygons', 'rle_to_polygons'
]
