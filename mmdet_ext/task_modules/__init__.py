from .polar_ray_coder import PolarRayCoder

__all__ = ['PolarRayCoder']
