from .polar_ray_coder import PolarRayCoder
from .top_cost_matcher import TopCostMatcher

__all__ = ['PolarRayCoder', 'TopCostMatcher']
