from .ray_refiner import RayRefiner
from .upsampled_mask_feat import (UpsampledMaskFeatModule,
                                  init_as_nearest_upsampling,
                                  init_nearest_upsamplings,
                                  learnt_upsampling_layers)

__all__ = [
    'RayRefiner', 'UpsampledMaskFeatModule', 'init_as_nearest_upsampling',
    'init_nearest_upsamplings', 'learnt_upsampling_layers'
]
