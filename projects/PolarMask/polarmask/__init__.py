import mmdet_ext  # noqa: F401  (registers the polar building blocks)
from .polarmask import PolarMask
from .polarmask_head import PolarMaskHead

__all__ = ['PolarMask', 'PolarMaskHead']
