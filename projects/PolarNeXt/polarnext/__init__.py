import mmdet_ext  # noqa: F401  (registers the polar building blocks)
from .polarnext import PolarNeXt
from .polarnext_head import PolarNeXtHead

__all__ = ['PolarNeXt', 'PolarNeXtHead']
