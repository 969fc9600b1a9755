from .ray_refiner import RayRefiner
from .upsampled_mask_feat import UpsampledMaskFeatModule

__all__ = ['RayRefiner', 'UpsampledMaskFeatModule']
