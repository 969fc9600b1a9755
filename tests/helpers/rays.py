"""Ray targets of whole :class:`PolygonTensor` objects (a test shortcut)."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from mmdet_ext.geometry.ray_origin import compute_ray_origins
from mmdet_ext.geometry.ray_targets import polar_ray_targets
from mmdet_ext.structures.polygons import PolygonTensor


def polygon_to_rays(polygons: PolygonTensor,
                    points: Optional[Tensor] = None,
                    obj_inds: Optional[Tensor] = None,
                    origin_method: str = 'centroid',
                    **kwargs) -> Tuple[Tensor, Tensor]:
    """Ray targets of a :class:`PolygonTensor` from given or computed points.

    Args:
        polygons (PolygonTensor): N objects (all their parts are used).
        points (Tensor, optional): Ray origins (P, 2). If None, one origin
            per object from :func:`compute_ray_origins`.
        obj_inds (Tensor, optional): Long (P, ). Required with ``points``
            unless P == N (then point i belongs to object i).
        origin_method (str): Used when ``points`` is None.
        **kwargs: Passed to :func:`polar_ray_targets` (num_rays, mode,
            miss_value, chunk_size, edge_tol).

    Returns:
        tuple[Tensor, Tensor]: ``points`` (P, 2) and ``rays`` (P, K).
    """
    if points is None:
        points = compute_ray_origins(polygons, method=origin_method)
    if obj_inds is None:
        if points.shape[0] != len(polygons):
            raise ValueError('obj_inds is required when P != N')
        obj_inds = torch.arange(len(polygons), device=points.device)
    edges, edge_valid = polygons.edges()
    rays = polar_ray_targets(points, edges, edge_valid, obj_inds, **kwargs)
    return points, rays
