from .polygon_ops import (boundary_distances, boundary_distances_dense,
                          points_in_polygons, points_in_polygons_dense)
from .ray_origin import (ORIGIN_METHODS, area_centroid, compute_ray_origins,
                         inside_points)
from .ray_targets import (RAY_MODES, decode_rays, polar_ray_targets,
                          ray_angles, ray_directions)

from .hard_rasterizer import (boxes_to_grid, hard_rasterize,
                              polygons_to_crop_masks, polygons_to_rle,
                              vertices_to_rle)
from .soft_rasterizer import SoftPolygonRasterizer, soft_rasterize

__all__ = [
    'points_in_polygons', 'points_in_polygons_dense', 'boundary_distances',
    'boundary_distances_dense', 'ORIGIN_METHODS', 'area_centroid',
    'compute_ray_origins', 'inside_points', 'RAY_MODES', 'ray_angles',
    'ray_directions', 'polar_ray_targets', 'decode_rays', 'boxes_to_grid',
    'hard_rasterize', 'polygons_to_crop_masks', 'polygons_to_rle',
    'vertices_to_rle', 'SoftPolygonRasterizer', 'soft_rasterize'
]
