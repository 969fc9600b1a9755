"""Synthetic data and slow reference implementations shared by the tests
and the benchmarks (as ``mmdet.testing``).

The case sets of ``benchmark_polar_core.py`` are in :mod:`.polar_core_cases`
(imported from there: only that tool and its tests use them).
"""
from .reference_raster import (dense_autograd_soft_rasterize,
                               naive_soft_rasterize)
from .reference_ray_targets import reference_polar_ray_targets
from .synthetic_polygons import (random_image_polygons, star_polygon,
                                 star_polygons, synthetic_gt)

__all__ = [
    'random_image_polygons', 'star_polygon', 'star_polygons', 'synthetic_gt',
    'reference_polar_ray_targets', 'naive_soft_rasterize',
    'dense_autograd_soft_rasterize'
]
