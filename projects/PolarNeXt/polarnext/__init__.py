import mmdet_ext  # noqa: F401  (registers the polar building blocks)
from .polar_targets import PolarTargetBuilder, PositiveTargets
from .polarnext import PolarNeXt
from .polarnext_head import PolarNeXtHead

__all__ = [
    'PolarNeXt', 'PolarNeXtHead', 'PolarTargetBuilder', 'PositiveTargets'
]
