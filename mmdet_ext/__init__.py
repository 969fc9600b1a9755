"""Reusable polar instance-segmentation building blocks for MMDetection 3.3.

Importing this package (directly, or through ``custom_imports`` in a config) registers the
project's modules into MMDetection's registries and installs the safe checkpoint loader
(:mod:`mmdet_ext.utils.checkpoint`).
"""
from . import utils  # noqa: F401  (registers the safe checkpoint loader)

__version__ = '0.1.0'
