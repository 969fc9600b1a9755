import mmdet_ext  # noqa: F401  (registers the polar building blocks)
from .polarnext import PolarNeXt
from .polarnext_head import PolarNeXtHead
from .polarnext_refine_head import PolarNeXtRefineHead
from .refine_export import PolarNeXtRefineExportWrapper

__all__ = [
    'PolarNeXt', 'PolarNeXtHead', 'PolarNeXtRefineHead',
    'PolarNeXtRefineExportWrapper'
]
