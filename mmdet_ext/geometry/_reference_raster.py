"""Old import path of :mod:`mmdet_ext.testing.reference_raster`.

Only ``tools/analysis_tools/benchmark_polar_core.py`` still imports from
here; delete this module once it imports from ``mmdet_ext.testing``.
"""
from mmdet_ext.testing.reference_raster import (  # noqa: F401
    dense_autograd_soft_rasterize, naive_soft_rasterize)
