from .min_area_matcher import MinAreaMatcher
from .polar_ray_coder import PolarRayCoder
from .polar_targets import PolarTargetBuilder, PositiveTargets, gt_polygons
from .top_cost_matcher import TopCostMatcher

__all__ = [
    'MinAreaMatcher', 'PolarRayCoder', 'PolarTargetBuilder',
    'PositiveTargets', 'TopCostMatcher', 'gt_polygons'
]
