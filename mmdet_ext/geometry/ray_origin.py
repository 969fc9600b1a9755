"""Ray origins (object "centres") for polar instance representations.

PolarMask and PolarNeXt cast rays from the int-truncated area centroid of
the largest polygon part. For concave or multi-part objects that point can
lie outside the object, and then up to half of its rays miss. This module
offers the official centroid and an origin that always lies inside:

- ``'centroid'``: area-weighted centroid (official, see
  :func:`area_centroid`);
- ``'inside'``: an approximate pole of inaccessibility, the interior point
  farthest from the boundary (see :func:`inside_points`);
- ``'centroid_or_inside'``: the centroid when it lies inside the object,
  otherwise the inside point.

"The object" is always every part held by the given
:class:`~mmdet_ext.structures.PolygonTensor` under the even-odd rule; pass
``polygons.largest_part()`` to reproduce the official single-part setting.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from mmdet_ext.structures.polygons import PolygonTensor
from .polygon_ops import (DEFAULT_CHUNK_ELEMENTS, auto_chunk_size,
                          boundary_distances_dense, chunk_slices,
                          points_in_polygons, points_in_polygons_dense,
                          scanline_crossings)

ORIGIN_METHODS = ('centroid', 'int_centroid', 'inside', 'centroid_or_inside')


def area_centroid(polygons: PolygonTensor,
                  largest_only: bool = True,
                  truncate: bool = False) -> Tensor:
    """Area-weighted polygon centroid per object.

    Args:
        polygons (PolygonTensor): N objects.
        largest_only (bool): Centroid of the largest part only (official).
            Otherwise the area-weighted centroid of all parts.
        truncate (bool): Truncate towards zero like the official
            ``int(...)``. Defaults to False (sub-pixel centroid).

    Returns:
        Tensor: Shape (N, 2); (0, 0) for invalid objects.
    """
    centroids = polygons.area_centroid(largest_only=largest_only)
    return centroids.trunc() if truncate else centroids


def _scanline_seeds(edges: Tensor, edge_valid: Tensor, bboxes: Tensor,
                    num_lines: int) -> Tuple[Tensor, Tensor]:
    """Midpoints of the widest inside interval on horizontal scanlines.

    Sorting the crossings of line y = c gives x_0 <= x_1 <= ...; by the
    even-odd rule, (x_2j, x_2j+1) are inside intervals, so the midpoint of
    one with positive width is inside (the same crossing formula is used
    by the inside test, so this holds in floating point as well).

    Args:
        edges (Tensor): (B, E, 4).
        edge_valid (Tensor): Bool (B, E).
        bboxes (Tensor): (B, 4) boxes of the objects.
        num_lines (int): Lines L per object, evenly spaced over the box.

    Returns:
        tuple[Tensor, Tensor]: seeds (B, L, 2) and ``ok`` (B, L) bool, True
        where the line has an inside interval of positive width.
    """
    fractions = (torch.arange(
        num_lines, device=edges.device, dtype=edges.dtype) + 0.5) / num_lines
    heights = bboxes[:, 3:] - bboxes[:, 1:2]
    y = (bboxes[:, 1:2] + fractions * heights).unsqueeze(-1)  # (B, L, 1)
    x_cross, crosses = scanline_crossings(y, edges)
    crosses = crosses & edge_valid.unsqueeze(1)
    x_sorted, _ = torch.where(crosses, x_cross,
                              torch.full_like(x_cross, torch.inf)).sort(-1)
    num_pairs = x_sorted.shape[-1] // 2
    lows = x_sorted[..., 0:2 * num_pairs:2]
    highs = x_sorted[..., 1:2 * num_pairs:2]
    paired = torch.isfinite(highs)
    lows = torch.where(paired, lows, torch.zeros_like(lows))
    highs = torch.where(paired, highs, torch.zeros_like(highs))
    widths = torch.where(paired, highs - lows, torch.full_like(lows, -1.0))
    if num_pairs == 0:
        return y.new_zeros(y.shape[:2] + (2, )), y.new_zeros(
            y.shape[:2], dtype=torch.bool)
    best_width, best = widths.max(dim=-1, keepdim=True)
    mid_x = (0.5 * (lows + highs)).gather(-1, best)
    seeds = torch.cat([mid_x, y.squeeze(-1).unsqueeze(-1)], dim=-1)
    return seeds, best_width.squeeze(-1) > 0


def _grid_offsets(size: int, device: torch.device,
                  dtype: torch.dtype) -> Tensor:
    """Offsets of a size x size grid filling [-1, 1]^2 (cell centres).

    Returns:
        Tensor: Shape (size * size, 2).
    """
    ticks = (torch.arange(size, device=device, dtype=dtype) + 0.5) / size
    ticks = 2 * ticks - 1
    gy, gx = torch.meshgrid(ticks, ticks, indexing='ij')
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)


def _score(points: Tensor, edges: Tensor, edge_valid: Tensor) -> Tensor:
    """Boundary distance for inside points, -1 for outside ones.

    Args:
        points (Tensor): (B, C, 2).
        edges (Tensor): (B, E, 4).
        edge_valid (Tensor): Bool (B, E).

    Returns:
        Tensor: (B, C).
    """
    inside = points_in_polygons_dense(points, edges, edge_valid)
    dist = boundary_distances_dense(points, edges, edge_valid)
    return torch.where(inside, dist, torch.full_like(dist, -1.0))


def _pick_best(candidates: Tensor, scores: Tensor) -> Tuple[Tensor, Tensor]:
    """Highest-scoring candidate per object.

    Args:
        candidates (Tensor): (B, C, 2).
        scores (Tensor): (B, C).

    Returns:
        tuple[Tensor, Tensor]: best points (B, 2) and their scores (B,).
    """
    best_score, best = scores.max(dim=1)
    rows = torch.arange(candidates.shape[0], device=candidates.device)
    return candidates[rows, best], best_score


def _inside_points_chunk(edges: Tensor, edge_valid: Tensor, bboxes: Tensor,
                         fallback: Tensor, num_lines: int, grid_size: int,
                         num_refine: int) -> Tensor:
    """Approximate poles of inaccessibility for one chunk of objects.

    Seeds (scanline midpoints, which are inside by construction, and a
    coarse grid over the box) are scored by boundary distance; the best
    inside one is then refined by ``num_refine`` rounds of a 5 x 5 local
    search whose step halves every round. A candidate replaces the current
    point only if it is inside and farther from the boundary.

    Args:
        edges (Tensor): (B, E, 4).
        edge_valid (Tensor): Bool (B, E).
        bboxes (Tensor): (B, 4).
        fallback (Tensor): (B, 2) used if no inside point is found.
        num_lines (int): Scanlines per object.
        grid_size (int): Coarse grid resolution per axis.
        num_refine (int): Refinement rounds.

    Returns:
        Tensor: (B, 2).
    """
    seeds, seeds_ok = _scanline_seeds(edges, edge_valid, bboxes, num_lines)
    centre = 0.5 * (bboxes[:, :2] + bboxes[:, 2:])
    half_size = 0.5 * (bboxes[:, 2:] - bboxes[:, :2])
    offsets = _grid_offsets(grid_size, edges.device, edges.dtype)
    grid = centre.unsqueeze(1) + offsets * half_size.unsqueeze(1)
    candidates = torch.cat([seeds, grid], dim=1)
    scores = _score(candidates, edges, edge_valid)
    scores[:, :num_lines] = torch.where(seeds_ok, scores[:, :num_lines],
                                        torch.full_like(seeds[..., 0], -1.0))
    best, best_score = _pick_best(candidates, scores)

    local = _grid_offsets(5, edges.device, edges.dtype) * 1.25
    step = 2 * half_size / grid_size  # one coarse grid cell
    for _ in range(num_refine):
        candidates = best.unsqueeze(1) + local * step.unsqueeze(1)
        cand, cand_score = _pick_best(candidates,
                                      _score(candidates, edges, edge_valid))
        better = cand_score > best_score
        best = torch.where(better.unsqueeze(-1), cand, best)
        best_score = torch.where(better, cand_score, best_score)
        step = step * 0.5
    return torch.where((best_score >= 0).unsqueeze(-1), best, fallback)


def inside_points(polygons: PolygonTensor,
                  num_lines: int = 16,
                  grid_size: int = 16,
                  num_refine: int = 12,
                  chunk_size: Optional[int] = None) -> Tensor:
    """A point inside each object, far from its boundary.

    Approximates the pole of inaccessibility (the interior point that
    maximises the distance to the boundary) with a coarse search plus
    local refinement, batched over objects. The interior test is even-odd
    over all parts' edges, so the result is inside the object under the
    same rule as :func:`points_in_polygons`, strictly (distance > 0), for
    every valid object: the scanline seeds guarantee at least one interior
    candidate. Only if rounding defeats all seeds (numerically degenerate
    slivers) does the area centroid of the largest part stand in.

    Args:
        polygons (PolygonTensor): N objects.
        num_lines (int): Scanline seeds per object.
        grid_size (int): Coarse grid resolution per axis.
        num_refine (int): Refinement rounds; each halves the step, which
            starts at one coarse grid cell.
        chunk_size (int, optional): Objects per chunk; by default sized so
            the (objects, candidates, edges) intermediates stay near 2**22
            elements.

    Returns:
        Tensor: Shape (N, 2); (0, 0) for invalid objects.
    """
    edges, edge_valid = polygons.edges()
    bboxes = polygons.bboxes()
    fallback = polygons.area_centroid(largest_only=True)
    result = torch.zeros_like(fallback)
    valid = torch.nonzero(polygons.valid).squeeze(1)
    if valid.numel() == 0:
        return result
    per_object = (num_lines + grid_size**2) * max(1, edges.shape[1])
    chunk = auto_chunk_size(chunk_size, per_object, DEFAULT_CHUNK_ELEMENTS)
    for part in chunk_slices(valid.numel(), chunk):
        inds = valid[part]
        result[inds] = _inside_points_chunk(edges[inds], edge_valid[inds],
                                            bboxes[inds], fallback[inds],
                                            num_lines, grid_size, num_refine)
    return result


def compute_ray_origins(polygons: PolygonTensor,
                        method: str = 'centroid',
                        largest_only: bool = True,
                        truncate: bool = False,
                        **inside_kwargs) -> Tensor:
    """Ray origin per object, selected by name.

    Args:
        polygons (PolygonTensor): N objects.
        method (str): ``'centroid'`` (sub-pixel area centroid),
            ``'int_centroid'`` (the official one: the area centroid
            truncated to int in the network input's coordinates),
            ``'inside'`` (pole of inaccessibility, always inside) or
            ``'centroid_or_inside'`` (the centroid if it is inside the
            object, else the inside point).
        largest_only (bool): Centroid of the largest part only (official)
            or of all parts. The inside test always uses all parts.
        truncate (bool): Truncate the centroid to int like the official
            code (the truncated point is what gets tested for
            ``'centroid_or_inside'``).
        **inside_kwargs: Passed to :func:`inside_points`.

    Returns:
        Tensor: Shape (N, 2); (0, 0) for invalid objects.
    """
    if method not in ORIGIN_METHODS:
        raise ValueError(
            f'method must be one of {ORIGIN_METHODS}, got {method!r}')
    if method == 'inside':
        return inside_points(polygons, **inside_kwargs)
    origins = area_centroid(polygons, largest_only,
                            truncate or method == 'int_centroid')
    if method in ('centroid', 'int_centroid'):
        return origins
    edges, edge_valid = polygons.edges()
    obj_inds = torch.arange(len(polygons), device=polygons.device)
    outside = ~points_in_polygons(origins, edges, edge_valid, obj_inds)
    replace = torch.nonzero(outside & polygons.valid).squeeze(1)
    if replace.numel():
        origins[replace] = inside_points(polygons[replace], **inside_kwargs)
    return origins
