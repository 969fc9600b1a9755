"""Dataset pieces with a defined behaviour on bad input: image loading that
names unusable files, RLE object masks kept as polygons; a COCO-format
dataset whose classes come from its annotation file."""
from .coco_format import CocoFormatDataset
from .transforms import (CheckedLoadImageFromFile, LoadPolygonAnnotations,
                         RLEToPolygons, mask_to_polygons, rle_to_polygons)

__all__ = [
    'CocoFormatDataset', 'CheckedLoadImageFromFile', 'LoadPolygonAnnotations',
    'RLEToPolygons', 'mask_to_polygons', 'rle_to_polygons'
]
