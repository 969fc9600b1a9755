"""Polar ray targets: where rays from a point leave its object's polygon.

Conventions (shared with PolarMask / PolarNeXt): ray k has angle
theta_k = 2*pi*k/K, measured from +x towards +y (image y points down, so
angles increase clockwise on screen), direction u_k = (cos, sin). A ray
length d_k gives the vertex p + d_k * u_k.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmdet_ext.structures.polygons import PolygonTensor
from .polygon_ops import auto_chunk_size, chunk_slices
from .ray_origin import compute_ray_origins

RAY_MODES = ('farthest', 'nearest')

# Rounding slack of the edge test, in units of eps * coordinate scale.
EDGE_SLACK_ULPS = 8

# Default size of one (points, rays, edges) temporary per chunk. On CPU a
# cache-sized chunk is ~2x faster than a large one; on accelerators larger
# chunks amortise kernel launches.
CPU_RAY_CHUNK_ELEMENTS = 2**17
RAY_CHUNK_ELEMENTS = 2**22


def ray_angles(num_rays: int = 36,
               device: Optional[torch.device] = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """Ray angles theta_k = 2*pi*k/K.

    Args:
        num_rays (int): Number of rays K.
        device (torch.device, optional): Output device.
        dtype (torch.dtype): Output float dtype.

    Returns:
        Tensor: Angles in radians, shape (K,).
    """
    steps = torch.arange(num_rays, device=device, dtype=torch.float64)
    return (steps * (2 * math.pi / num_rays)).to(dtype)


def ray_directions(num_rays: int = 36,
                   device: Optional[torch.device] = None,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Unit ray directions (cos theta_k, sin theta_k).

    Computed in float64 and then cast, so float32 and float64 callers get
    the correctly rounded directions.

    Args:
        num_rays (int): Number of rays K.
        device (torch.device, optional): Output device.
        dtype (torch.dtype): Output float dtype.

    Returns:
        Tensor: Shape (K, 2).
    """
    angles = ray_angles(num_rays, device, torch.float64)
    return torch.stack([angles.cos(), angles.sin()], dim=-1).to(dtype)


def _ray_lengths_chunk(points: Tensor, edges: Tensor, edge_valid: Tensor,
                       directions: Tensor, mode: str, miss_value: float,
                       edge_tol: Optional[float]) -> Tensor:
    """Ray lengths for one chunk of points, each with its own edges.

    Ray p + t*u against edge a + s*(b - a): with w = a - p, d = b - a and
    cross(x, y) = x_x*y_y - x_y*y_x, the crossing is at
    t = cross(w, d) / cross(u, d) and s = cross(w, u) / cross(u, d). This
    is exactly the official determinant formula (its "den" is
    cross(u, d)), only regrouped so that cross(w, d) is shared by all rays.

    Parallel edges (den == 0) are never counted without a separate test:
    there s is +-inf or NaN, and both fail the range test. Invalid edges
    are given d = 0, which makes them parallel to every ray.

    Args:
        points (Tensor): Ray origins (C, 2).
        edges (Tensor): Edges of each point's object (C, E, 4).
        edge_valid (Tensor): Bool (C, E).
        directions (Tensor): Unit directions (K, 2).
        mode (str): 'farthest' or 'nearest'.
        miss_value (float): Length of a ray that crosses no edge.
        edge_tol (float, optional): Slack on the edge parameter s, see
            :func:`_edge_slack`.

    Returns:
        Tensor: Ray lengths (C, K), possibly +inf for pathological
        near-parallel overflow (the caller replaces non-finite values).
    """
    start = edges[..., :2]
    delta = (edges[..., 2:] - start).masked_fill(~edge_valid.unsqueeze(-1),
                                                 0)  # d, (C, E, 2)
    offset = start - points.unsqueeze(1)  # w, (C, E, 2)
    w_cross_d = (offset[..., 0] * delta[..., 1] -
                 offset[..., 1] * delta[..., 0]).unsqueeze(1)  # (C, 1, E)
    ux = directions[:, 0].view(1, -1, 1)
    uy = directions[:, 1].view(1, -1, 1)
    # The (C, K, E) part, written in place to limit temporaries.
    den = delta[..., 1].unsqueeze(1) * ux
    den.sub_(delta[..., 0].unsqueeze(1) * uy)
    s = offset[..., 0].unsqueeze(1) * uy
    s.sub_(offset[..., 1].unsqueeze(1) * ux).div_(den)
    t = w_cross_d / den
    slack = _edge_slack(points, edges, delta, edge_tol)
    hit = s >= -slack
    hit &= s <= 1 + slack
    hit &= t >= 0
    if mode == 'farthest':
        # Official: non-crossings become miss_value before the max over
        # edges, so the result never drops below miss_value when any edge
        # is missed.
        return torch.where(hit, t, miss_value).amax(dim=-1)
    nearest = torch.where(hit, t, math.inf).amin(dim=-1)
    return torch.where(
        torch.isinf(nearest), miss_value, nearest.clamp(min=miss_value))


def _edge_slack(points: Tensor, edges: Tensor, delta: Tensor,
                edge_tol: Optional[float]) -> Union[float, Tensor]:
    """Slack on the edge parameter s of each (point, edge) pair.

    With ``edge_tol=None`` the slack is a few units of rounding error: a
    crossing may lie up to ``EDGE_SLACK_ULPS * eps * scale`` past an edge
    end, in image units, where scale is the largest coordinate magnitude of
    the point and the edge (the size of the rounding errors in s * |d|).
    That is ~1e-12 px in float64 and ~1e-3 px in float32 for coordinates
    near 1000, and keeps a ray that passes exactly through a vertex from
    missing both adjacent edges.

    Args:
        points (Tensor): (C, 2).
        edges (Tensor): (C, E, 4).
        delta (Tensor): Edge vectors (C, E, 2), zero for invalid edges.
        edge_tol (float, optional): Fixed slack on s instead (0 is the
            official rule).

    Returns:
        float | Tensor: A float, or a (C, 1, E) tensor.
    """
    if edge_tol is not None:
        return edge_tol
    eps = torch.finfo(points.dtype).eps
    scale = points.abs().amax(-1, keepdim=True) + edges.abs().amax(-1)
    length = delta.norm(dim=-1)
    # Zero-length (and invalid) edges get no slack: they never count.
    safe = torch.where(length > 0, length, torch.ones_like(length))
    slack = EDGE_SLACK_ULPS * eps * scale / safe
    return torch.where(length > 0, slack, torch.zeros_like(slack))[:, None]


def polar_ray_targets(points: Tensor,
                      edges: Tensor,
                      edge_valid: Tensor,
                      obj_inds: Tensor,
                      num_rays: int = 36,
                      mode: str = 'farthest',
                      miss_value: float = 0.01,
                      chunk_size: Optional[int] = None,
                      edge_tol: Optional[float] = None) -> Tensor:
    """Length of K rays from each point to the boundary of its object.

    For point p (of object ``obj_inds[p]``) and ray k, every valid edge of
    the object (all parts) is intersected with the ray; a crossing counts
    if the ray parameter t >= 0, the edge parameter s is in [0, 1] and the
    edge is not parallel to the ray. Then, as in PolarNeXt
    (``matrix_get_n_coordinates``):

    - ``'farthest'`` (official): max over edges of (t if it counts else
      ``miss_value``), i.e. the farthest crossing, never below
      ``miss_value``; ``miss_value`` if nothing counts.
    - ``'nearest'``: the nearest counting crossing (the first exit of the
      ray, which follows concave boundaries exactly when the point is
      inside), clamped to at least ``miss_value``; ``miss_value`` if
      nothing counts.

    Differences from the official code: by default the edge test allows
    a few units of rounding error (``edge_tol=None``, see
    :func:`_edge_slack`), so a ray that passes exactly through a vertex
    does not miss both adjacent edges by rounding (with the exact rule,
    ~4% of the vertex rays of random regular polygons miss); a length that
    overflows to inf (edge almost parallel to the ray) becomes
    ``miss_value``, so no NaN/inf is ever returned; and there is no Python
    loop over objects.

    Memory: points are processed in chunks of ``chunk_size``; each chunk
    holds at most 5 temporaries of shape (chunk_size, K, E') where
    E' <= E is the largest valid edge count among the chunk's objects. The
    default chunk size keeps one such temporary at about 2**17 elements on
    CPU (cache friendly) and 2**22 elements on other devices, so the peak
    extra memory is at most ~5 * 2**22 * itemsize (~80 MB float32,
    ~160 MB float64) whatever P is. Points are sorted by their object's
    edge count before chunking so that short polygons are not padded to
    the longest one.

    Args:
        points (Tensor): Ray origins (P, 2).
        edges (Tensor): Edges (N, E, 4) as (x1, y1, x2, y2), valid edges
            first in each row (as from ``PolygonTensor.edges()``).
        edge_valid (Tensor): Bool (N, E).
        obj_inds (Tensor): Long (P,), object of each point, in [0, N).
        num_rays (int): Number of rays K. Defaults to 36.
        mode (str): 'farthest' (official) or 'nearest'.
        miss_value (float): Length of rays that cross nothing (and the
            floor of all lengths). Defaults to 0.01.
        chunk_size (int, optional): Points per chunk; see above.
        edge_tol (float, optional): None (default) for a rounding-level
            slack on the edge parameter s; a float accepts
            s in [-edge_tol, 1 + edge_tol] instead (0.0 is the official
            rule).

    Returns:
        Tensor: Ray lengths (P, K), dtype of ``points``, all finite. In
        'nearest' mode all are >= miss_value; in 'farthest' mode too,
        unless every edge of the object is crossed by the ray.
    """
    if mode not in RAY_MODES:
        raise ValueError(f'mode must be one of {RAY_MODES}, got {mode!r}')
    num_points = points.shape[0]
    result = points.new_full((num_points, num_rays), miss_value)
    if num_points == 0 or edges.shape[1] == 0:
        return result
    obj_inds = obj_inds.long()
    edges = edges.to(points.dtype)
    directions = ray_directions(num_rays, points.device, points.dtype)
    edge_counts = _valid_prefix_lengths(edge_valid)[obj_inds]
    order = torch.argsort(edge_counts)
    per_point = num_rays * max(1, int(edge_counts.max()))
    budget = (
        CPU_RAY_CHUNK_ELEMENTS
        if points.device.type == 'cpu' else RAY_CHUNK_ELEMENTS)
    chunk = auto_chunk_size(chunk_size, per_point, budget)
    for part in chunk_slices(num_points, chunk):
        inds = order[part]
        num_edges = int(edge_counts[inds[-1]])  # sorted: the chunk's max
        if num_edges == 0:
            continue
        objs = obj_inds[inds]
        result[inds] = _ray_lengths_chunk(points[inds],
                                          edges[objs, :num_edges],
                                          edge_valid[objs, :num_edges],
                                          directions, mode, miss_value,
                                          edge_tol)
    # Only an overflowing t (edge almost parallel to the ray) can be
    # non-finite; treat it as a miss rather than emitting inf.
    return torch.where(torch.isfinite(result), result, miss_value)


def _valid_prefix_lengths(edge_valid: Tensor) -> Tensor:
    """Smallest E' per row such that all valid edges lie in [:E'].

    Args:
        edge_valid (Tensor): Bool (N, E).

    Returns:
        Tensor: Long (N,).
    """
    positions = torch.arange(
        1, edge_valid.shape[1] + 1, device=edge_valid.device)
    return (positions * edge_valid).amax(dim=1) if edge_valid.shape[1] \
        else edge_valid.new_zeros(edge_valid.shape[0], dtype=torch.long)


def decode_rays(points: Tensor,
                rays: Tensor,
                max_shape: Optional[Sequence[int]] = None) -> Tensor:
    """Polygon vertices p + d_k * u_k from ray lengths.

    Args:
        points (Tensor): Ray origins (P, 2).
        rays (Tensor): Ray lengths (P, K).
        max_shape (Sequence[int], optional): (H, W, ...) of the image; if
            given, x is clipped to [0, W - 1] and y to [0, H - 1].

    Returns:
        Tensor: Vertices (P, K, 2).
    """
    directions = ray_directions(rays.shape[-1], rays.device, rays.dtype)
    vertices = points.unsqueeze(-2) + rays.unsqueeze(-1) * directions
    if max_shape is not None:
        height, width = max_shape[0], max_shape[1]
        vertices = torch.stack([
            vertices[..., 0].clamp(0, width - 1), vertices[..., 1].clamp(
                0, height - 1)
        ],
                               dim=-1)
    return vertices


def polygon_to_rays(polygons: PolygonTensor,
                    points: Optional[Tensor] = None,
                    obj_inds: Optional[Tensor] = None,
                    origin_method: str = 'centroid',
                    **kwargs) -> Tuple[Tensor, Tensor]:
    """Ray targets of a :class:`PolygonTensor` from given or computed points.

    Args:
        polygons (PolygonTensor): N objects (all their parts are used; pass
            ``polygons.largest_part()`` for the official single-part
            targets).
        points (Tensor, optional): Ray origins (P, 2). If None, one origin
            per object from :func:`compute_ray_origins`.
        obj_inds (Tensor, optional): Long (P,). Required with ``points``
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
