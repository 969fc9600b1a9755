from .ray_refiner import RayRefiner
from .upsampled_mask_feat import (UpsampledMaskFeatModule,
                                  init_as_nearest_upsampling)

__all__ = [
    'RayRefiner', 'UpsampledMaskFeatModule', 'init_as_nearest_upsampling'
]
