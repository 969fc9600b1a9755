"""Reusable polar instance-segmentation building blocks for MMDetection 3.3.

Importing this package (directly, or through ``custom_imports`` in a config) registers the
project's modules into MMDetection's registries (``PolarRayCoder`` and ``TopCostMatcher``
in ``TASK_UTILS``, ``PolarIoULoss`` in ``MODELS``) and installs the safe checkpoint loader
(:mod:`mmdet_ext.utils.checkpoint`).
"""
from . import utils  # noqa: F401  (registers the safe checkpoint loader)
from .models import PolarIoULoss
from .structures import PolygonTensor
from .structures.rle_masks import RLEMask, RLEMasks
from .task_modules import PolarRayCoder
from .task_modules.top_cost_matcher import TopCostMatcher

__version__ = '0.1.0'

__all__ = [
    'PolarIoULoss', 'PolygonTensor', 'RLEMask', 'RLEMasks', 'PolarRayCoder',
    'TopCostMatcher'
]
