"""Straightforward per-object re-statement of the official ray targets.

This mirrors the structure of PolarNeXt's ``matrix_get_n_coordinates``
(design notes section 3.5, item 7): a Python loop over objects, and for
each object dense (M, K, E, 4) tensors built with ``repeat`` holding the
ray line (p, p + u_k) and the edge for every (point, ray, edge) triple.
It is deliberately unoptimised and exists only to check
:func:`mmdet_ext.geometry.ray_targets.polar_ray_targets` (tests) and to
measure its speed-up (``benchmark_polar_core.py``).
"""
import math

import torch
from torch import Tensor


def _official_lengths(points: Tensor, edges: Tensor, num_rays: int,
                      miss_value: float) -> Tensor:
    """Official farthest-crossing lengths for the points of one object.

    Args:
        points (Tensor): (M, 2) points of this object.
        edges (Tensor): (E, 4) valid edges of this object.
        num_rays (int): K.
        miss_value (float): Value of invalid crossings (0.01 officially).

    Returns:
        Tensor: (M, K).
    """
    num_points, num_edges = points.shape[0], edges.shape[0]
    angles = torch.arange(
        num_rays, dtype=torch.float64,
        device=points.device) * (2 * math.pi / num_rays)
    angles = angles.to(points.dtype)
    starts = points.view(num_points, 1, 1, 2).repeat(1, num_rays, num_edges, 1)
    steps = torch.stack([angles.cos(), angles.sin()], -1)
    ends = starts + steps.view(1, num_rays, 1, 2).repeat(
        num_points, 1, num_edges, 1)
    rays = torch.cat([starts, ends], dim=-1)  # (M, K, E, 4)
    segs = edges.view(1, 1, num_edges, 4).repeat(num_points, num_rays, 1, 1)
    x1, y1, x2, y2 = rays.unbind(-1)
    x3, y3, x4, y4 = segs.unbind(-1)
    den = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
    parallel = den == 0
    den = den.masked_fill(parallel, 1e-6)
    t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / den
    s = -((x1 - x2) * (y1 - y3) - (y1 - y2) * (x1 - x3)) / den
    invalid = (t < 0) | (s < 0) | (s > 1) | parallel
    t = t.masked_fill(invalid, miss_value)
    return t.max(dim=-1).values


def reference_polar_ray_targets(points: Tensor,
                                edges: Tensor,
                                edge_valid: Tensor,
                                obj_inds: Tensor,
                                num_rays: int = 36,
                                miss_value: float = 0.01) -> Tensor:
    """Official 'farthest' ray targets, one object at a time.

    Args:
        points (Tensor): (P, 2).
        edges (Tensor): (N, E, 4).
        edge_valid (Tensor): Bool (N, E).
        obj_inds (Tensor): Long (P,).
        num_rays (int): K.
        miss_value (float): Value for rays without crossing.

    Returns:
        Tensor: (P, K).
    """
    result = points.new_full((points.shape[0], num_rays), miss_value)
    for obj in range(edges.shape[0]):
        members = torch.nonzero(obj_inds == obj).squeeze(1)
        obj_edges = edges[obj][edge_valid[obj]].to(points.dtype)
        if members.numel() == 0 or obj_edges.shape[0] == 0:
            continue
        result[members] = _official_lengths(points[members], obj_edges,
                                            num_rays, miss_value)
    return result
