"""Synthetic data shared by the tests and the benchmarks (as
``mmdet.testing``)."""
from .synthetic_polygons import (random_image_polygons, star_polygon,
                                 star_polygons, synthetic_gt)

__all__ = [
    'random_image_polygons', 'star_polygon', 'star_polygons', 'synthetic_gt'
]
