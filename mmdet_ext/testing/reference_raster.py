"""Slow, obviously-correct references for the soft rasteriser (tests and
``benchmark_polar_core.py``).

Written independently of :mod:`mmdet_ext.geometry.soft_rasterizer`
(textbook point-to-segment distance and PNPOLY with a division), with
plain autograd, so that tests and benchmarks can compare the optimised
kernel against them:

- :func:`naive_soft_rasterize`: per polygon, per pixel Python loops, each
  pixel vectorised over the edges only;
- :func:`dense_autograd_soft_rasterize`: all (N, R*R, V) pixel-edge
  distances at once; ``min`` over edges routes the gradient to the nearest
  edge only, so its gradient is the same as the optimised backward.

Both expect finite, reasonably sized vertices in grid coordinates, as
(N, V, 2) with V >= 1, and return (N, R, R) in the input's float dtype.
"""
from typing import List

import torch
from torch import Tensor


def naive_soft_rasterize(vertices: Tensor,
                         size: int = 64,
                         tau: float = 0.1) -> Tensor:
    """Per-pixel loop reference of ``sigmoid(s * D^2 / tau)``.

    Args:
        vertices (Tensor): Vertices (N, V, 2) in grid coordinates.
        size (int): Grid size R.
        tau (float): Smoothness.

    Returns:
        Tensor: Soft masks (N, R, R), differentiable w.r.t. ``vertices``.
    """
    polygons = []
    for polygon in vertices:
        a = polygon
        b = torch.roll(polygon, shifts=-1, dims=0)
        xs, ys = polygon[:, 0].tolist(), polygon[:, 1].tolist()
        rows = []
        for i in range(size):
            row = []
            for j in range(size):
                point = polygon.new_tensor([float(j), float(i)])
                sq_dist = _point_segment_sq_dist(point, a, b).min()
                sign = 1.0 if _pnpoly(float(j), float(i), xs, ys) else -1.0
                row.append(torch.sigmoid(sign * sq_dist / tau))
            rows.append(torch.stack(row))
        polygons.append(torch.stack(rows))
    if not polygons:
        return vertices.new_zeros((0, size, size))
    return torch.stack(polygons)


def dense_autograd_soft_rasterize(vertices: Tensor,
                                  size: int = 64,
                                  tau: float = 0.1) -> Tensor:
    """All-pairs reference of ``sigmoid(s * D^2 / tau)`` (plain autograd).

    Args:
        vertices (Tensor): Vertices (N, V, 2) in grid coordinates.
        size (int): Grid size R.
        tau (float): Smoothness.

    Returns:
        Tensor: Soft masks (N, R, R), differentiable w.r.t. ``vertices``.
    """
    num = vertices.shape[0]
    coords = torch.arange(size, dtype=vertices.dtype, device=vertices.device)
    py, px = torch.meshgrid(coords, coords, indexing='ij')
    points = torch.stack([px.reshape(-1), py.reshape(-1)], dim=-1)
    a = vertices[:, None, :, :]  # (N, 1, V, 2)
    b = torch.roll(vertices, shifts=-1, dims=1)[:, None, :, :]
    p = points[None, :, None, :]  # (1, P, 1, 2)
    sq_dist = _point_segment_sq_dist(p, a, b).min(dim=-1).values  # (N, P)
    inside = _pnpoly_dense(points, vertices.detach())
    sign = inside.to(vertices.dtype) * 2 - 1
    return torch.sigmoid(sign * sq_dist / tau).reshape(num, size, size)


def _point_segment_sq_dist(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Squared distance from points p to segments [a, b] (broadcasting).

    Args:
        p (Tensor): Points (..., 2).
        a (Tensor): Segment starts (..., 2).
        b (Tensor): Segment ends (..., 2).

    Returns:
        Tensor: Squared distances (...,).
    """
    ab = b - a
    ap = p - a
    len2 = (ab * ab).sum(-1)
    safe_len2 = torch.where(len2 > 0, len2, torch.ones_like(len2))
    t = torch.where(len2 > 0, (ap * ab).sum(-1) / safe_len2,
                    torch.zeros_like(len2))
    t = t.clamp(0.0, 1.0)
    closest = a + t.unsqueeze(-1) * ab
    diff = p - closest
    return (diff * diff).sum(-1)


def _pnpoly(x: float, y: float, xs: List[float], ys: List[float]) -> bool:
    """Classic PNPOLY crossing test of one point (Python floats)."""
    inside = False
    j = len(xs) - 1
    for i in range(len(xs)):
        if (ys[i] > y) != (ys[j] > y):
            x_cross = (xs[j] - xs[i]) * (y - ys[i]) / (ys[j] - ys[i]) + xs[i]
            if x < x_cross:
                inside = not inside
        j = i
    return inside


def _pnpoly_dense(points: Tensor, vertices: Tensor) -> Tensor:
    """PNPOLY of P points against N polygons: bool (N, P)."""
    xi, yi = vertices[:, None, :, 0], vertices[:, None, :, 1]
    xj = torch.roll(vertices, 1, dims=1)[:, None, :, 0]
    yj = torch.roll(vertices, 1, dims=1)[:, None, :, 1]
    x, y = points[None, :, None, 0], points[None, :, None, 1]
    crosses = (yi > y) != (yj > y)
    denom = torch.where(crosses, yj - yi, torch.ones_like(yj - yi))
    x_cross = (xj - xi) * (y - yi) / denom + xi
    return ((crosses & (x < x_cross)).sum(-1) % 2) == 1
