"""Batched point-versus-polygon primitives (pure PyTorch).

Polygons are given as padded edge tensors, as produced by
:meth:`mmdet_ext.structures.PolygonTensor.edges`: ``edges`` (N, E, 4) holds
(x1, y1, x2, y2) of every edge of every part of object n, ``edge_valid``
(N, E) marks the real ones. All parts of an object take part in the tests,
so multi-part objects and self-overlapping parts follow the even-odd rule.

Two calling conventions are offered:

- *dense*: B objects with C query points each, ``points`` (B, C, 2);
- *indexed*: P points, each with the index of its object, ``points``
  (P, 2) and ``obj_inds`` (P,). The edges are gathered per point in chunks,
  so peak memory is about ``chunk_size * E * 8`` elements.
"""
from typing import Callable, Iterator, Optional, Tuple

import torch
from torch import Tensor

# Elements of the largest (points x edges [x rays]) intermediate per chunk.
# Each such float32 temporary then takes 16 MB.
DEFAULT_CHUNK_ELEMENTS = 2**22


def auto_chunk_size(chunk_size: Optional[int],
                    elements_per_item: int,
                    budget: int = DEFAULT_CHUNK_ELEMENTS) -> int:
    """Number of leading items per chunk.

    Args:
        chunk_size (int, optional): Explicit size; used as is if given.
        elements_per_item (int): Elements one item adds to the largest
            intermediate tensor.
        budget (int): Element budget of that tensor.

    Returns:
        int: A chunk size >= 1.
    """
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
        return int(chunk_size)
    return max(1, budget // max(1, elements_per_item))


def chunk_slices(total: int, chunk_size: int) -> Iterator[slice]:
    """Yield consecutive slices covering ``range(total)``."""
    for start in range(0, total, chunk_size):
        yield slice(start, min(start + chunk_size, total))


def scanline_crossings(y: Tensor, edges: Tensor) -> Tuple[Tensor, Tensor]:
    """Crossings of horizontal lines with edges (half-open rule).

    An edge crosses the line y = c iff exactly one endpoint lies strictly
    below c (min(y1, y2) <= c < max(y1, y2)). With this rule every closed
    ring is crossed an even number of times by any line, which keeps the
    even-odd test and the scanline seeds in :mod:`.ray_origin` consistent
    even for lines through vertices. Horizontal edges never cross.

    Args:
        y (Tensor): Line heights, shape (B, C, 1).
        edges (Tensor): Edges (B, E, 4) as (x1, y1, x2, y2).

    Returns:
        tuple[Tensor, Tensor]: ``x_cross`` (B, C, E), the abscissa of each
        crossing (arbitrary where there is none) and ``crosses`` (B, C, E)
        bool.
    """
    x1, y1, x2, y2 = (edges[..., i].unsqueeze(1) for i in range(4))
    crosses = (y1 > y) != (y2 > y)
    dy = torch.where(crosses, y2 - y1, torch.ones_like(y1 - y))
    x_cross = x1 + (y - y1) * (x2 - x1) / dy
    return x_cross, crosses


def points_in_polygons_dense(points: Tensor, edges: Tensor,
                             edge_valid: Tensor) -> Tensor:
    """Even-odd point-in-polygon test, C points per object.

    Points exactly on the boundary may go either way.

    Args:
        points (Tensor): Query points (B, C, 2).
        edges (Tensor): Edges (B, E, 4) as (x1, y1, x2, y2).
        edge_valid (Tensor): Bool (B, E).

    Returns:
        Tensor: Bool (B, C), True if an odd number of valid edges lie to
        the right of the point on its horizontal line.
    """
    x_cross, crosses = scanline_crossings(points[..., 1:], edges)
    right = crosses & (points[..., :1] < x_cross) & edge_valid.unsqueeze(1)
    return right.sum(dim=-1) % 2 == 1


def boundary_distances_dense(points: Tensor, edges: Tensor,
                             edge_valid: Tensor) -> Tensor:
    """Euclidean distance from each point to the nearest valid edge.

    Args:
        points (Tensor): Query points (B, C, 2).
        edges (Tensor): Edges (B, E, 4) as (x1, y1, x2, y2).
        edge_valid (Tensor): Bool (B, E).

    Returns:
        Tensor: Distances (B, C); 0 for objects without valid edges.
    """
    start = edges[..., :2].unsqueeze(1)  # (B, 1, E, 2)
    delta = (edges[..., 2:] - edges[..., :2]).unsqueeze(1)
    rel = points.unsqueeze(2) - start  # (B, C, E, 2)
    length_sq = (delta * delta).sum(-1)
    safe = torch.where(length_sq > 0, length_sq, torch.ones_like(length_sq))
    along = ((rel * delta).sum(-1) / safe).clamp(0, 1)
    offset = rel - along.unsqueeze(-1) * delta
    dist_sq = (offset * offset).sum(-1)
    big = torch.finfo(dist_sq.dtype).max
    dist_sq = dist_sq.masked_fill(~edge_valid.unsqueeze(1), big)
    if dist_sq.shape[-1] == 0:
        return points.new_zeros(points.shape[:2])
    min_sq = dist_sq.min(dim=-1).values
    return torch.where(min_sq < big, min_sq, torch.zeros_like(min_sq)).sqrt()


def _indexed(fn: Callable[[Tensor, Tensor, Tensor], Tensor], points: Tensor,
             edges: Tensor, edge_valid: Tensor, obj_inds: Tensor,
             chunk_size: Optional[int]) -> Tensor:
    """Apply a dense op to P points, each against its own object's edges.

    Args:
        fn (Callable): Dense op mapping (B, 1, 2), (B, E, 4), (B, E) to
            (B, 1).
        points (Tensor): (P, 2).
        edges (Tensor): (N, E, 4).
        edge_valid (Tensor): (N, E).
        obj_inds (Tensor): Long (P,), object index of each point.
        chunk_size (int, optional): Points per chunk.

    Returns:
        Tensor: (P,) results of ``fn``.
    """
    obj_inds = obj_inds.long()
    chunk = auto_chunk_size(chunk_size, 8 * max(1, edges.shape[1]))
    outputs = []
    for part in chunk_slices(points.shape[0], chunk):
        inds = obj_inds[part]
        outputs.append(
            fn(points[part].unsqueeze(1), edges[inds], edge_valid[inds]))
    if not outputs:
        return fn(points.unsqueeze(1), edges[:0], edge_valid[:0])[:, 0]
    return torch.cat(outputs)[:, 0]


def points_in_polygons(points: Tensor,
                       edges: Tensor,
                       edge_valid: Tensor,
                       obj_inds: Tensor,
                       chunk_size: Optional[int] = None) -> Tensor:
    """Even-odd test of each point against the polygon of its own object.

    Args:
        points (Tensor): Query points (P, 2).
        edges (Tensor): Edges (N, E, 4) as (x1, y1, x2, y2), all parts.
        edge_valid (Tensor): Bool (N, E).
        obj_inds (Tensor): Long (P,), object of each point, in [0, N).
        chunk_size (int, optional): Points per chunk; by default chosen so
            that the (chunk, E) intermediates stay near 2**22 elements.

    Returns:
        Tensor: Bool (P,). Points of objects without edges are outside.
    """
    return _indexed(points_in_polygons_dense, points, edges, edge_valid,
                    obj_inds, chunk_size)


def boundary_distances(points: Tensor,
                       edges: Tensor,
                       edge_valid: Tensor,
                       obj_inds: Tensor,
                       chunk_size: Optional[int] = None) -> Tensor:
    """Distance of each point to the boundary of its own object.

    Args:
        points (Tensor): Query points (P, 2).
        edges (Tensor): Edges (N, E, 4) as (x1, y1, x2, y2), all parts.
        edge_valid (Tensor): Bool (N, E).
        obj_inds (Tensor): Long (P,), object of each point, in [0, N).
        chunk_size (int, optional): Points per chunk.

    Returns:
        Tensor: Distances (P,); 0 for objects without valid edges.
    """
    return _indexed(boundary_distances_dense, points, edges, edge_valid,
                    obj_inds, chunk_size)
