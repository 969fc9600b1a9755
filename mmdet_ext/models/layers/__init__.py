from .ray_refiner import RayRefiner

__all__ = ['RayRefiner']
