"""Old import path of :mod:`mmdet_ext.testing.reference_ray_targets`.

Only ``tools/analysis_tools/benchmark_polar_core.py`` still imports from
here; delete this module once it imports from ``mmdet_ext.testing``.
"""
from mmdet_ext.testing.reference_ray_targets import \
    reference_polar_ray_targets  # noqa: F401
