"""Reusable polar instance-segmentation building blocks for MMDetection 3.3.

Importing this package (directly, or through ``custom_imports`` in a config) registers the
project's modules into MMDetection's registries (``PolarRayCoder`` and ``TopCostMatcher``
in ``TASK_UTILS``, ``PolarIoULoss`` in ``MODELS``) and installs the safe checkpoint loader
(:mod:`mmdet_ext.utils.checkpoint`).
"""
from . import geometry, models, structures, task_modules, utils  # noqa: F401
from . import datasets, engine, evaluation, visualization  # noqa: F401

__version__ = '0.1.0'
