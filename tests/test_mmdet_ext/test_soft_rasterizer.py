"""Tests for mmdet_ext.geometry.soft_rasterizer."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdet_ext.geometry.hard_rasterizer import hard_rasterize
from mmdet_ext.geometry.soft_rasterizer import (SoftPolygonRasterizer,
                                                boxes_to_grid, soft_rasterize)
from mmdet_ext.testing import (dense_autograd_soft_rasterize,
                               naive_soft_rasterize, star_polygons)

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)


def grid_star_polygons(num: int,
                       num_vertices: int,
                       size: int,
                       seed: int,
                       dtype=torch.float64) -> torch.Tensor:
    """Random simple (star-shaped, often concave) polygons inside the grid:
    centres in its middle fifth, vertices 0.15 to 0.45 grid sizes away.

    Returns:
        Tensor: (num, num_vertices, 2) in grid coordinates.
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.4, 0.6, (num, 2)) * size
    xy = star_polygons(rng, num, num_vertices, centres, 0.45 * size, 1 / 3)
    return torch.as_tensor(xy, dtype=dtype)


def random_polygons(num: int,
                    num_vertices: int,
                    size: int,
                    seed: int,
                    dtype=torch.float64) -> torch.Tensor:
    """Random vertices in the grid: usually self-intersecting polygons,
    which the star-shaped generator never makes."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.1, 1.1, (num, num_vertices, 2)) * (size - 1)
    return torch.as_tensor(xy, dtype=dtype)


def test_boxes_to_grid_maps_crop_pixel_centres_to_integers():
    boxes = torch.tensor([[10.0, 20.0, 110.0, 70.0]])
    size = 64
    j = torch.arange(size, dtype=torch.float32)
    centres = torch.stack(
        [10 + (j + 0.5) * 100 / size, 20 + (j + 0.5) * 50 / size], -1)[None]
    grid = boxes_to_grid(centres, boxes, size)
    torch.testing.assert_close(grid, torch.stack([j, j], -1)[None])
    corners = torch.tensor([[[10.0, 20.0], [110.0, 70.0]]])
    torch.testing.assert_close(
        boxes_to_grid(corners, boxes, size),
        torch.tensor([[[-0.5, -0.5], [63.5, 63.5]]]))
    # A degenerate box gives finite coordinates.
    flat = torch.tensor([[10.0, 20.0, 10.0, 20.0]])
    assert torch.isfinite(boxes_to_grid(corners, flat, size)).all()


@pytest.mark.parametrize('seed,tau,kind', [(0, 1.0, 'star'), (1, 5.0, 'star'),
                                           (2, 2.0, 'random'),
                                           (3, 10.0, 'random')])
def test_gradcheck_float64(seed, tau, kind):
    make = grid_star_polygons if kind == 'star' else random_polygons
    vertices = make(2, 6, 12, seed).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda v: soft_rasterize(v, size=12, tau=tau), (vertices, ),
        eps=1e-6,
        atol=1e-5,
        rtol=1e-4)


def test_gradcheck_at_default_tau_near_boundary():
    # With tau = 0.1 only boundary pixels carry gradient; check them too.
    vertices = grid_star_polygons(1, 8, 10, seed=7).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda v: soft_rasterize(v, size=10, tau=0.1), (vertices, ),
        eps=1e-7,
        atol=1e-4,
        rtol=1e-3)


@pytest.mark.parametrize('tau', [0.1, 1.0])
def test_forward_matches_naive_per_pixel_reference(tau):
    for vertices in (grid_star_polygons(2, 36, 16, seed=11),
                     random_polygons(2, 7, 16, seed=12)):
        expected = naive_soft_rasterize(vertices, size=16, tau=tau)
        out = soft_rasterize(vertices.float(), size=16, tau=tau)
        assert out.dtype == torch.float32 and out.shape == (2, 16, 16)
        torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=0)
        # The boundary passes through this grid: not everything saturates.
        assert ((out > 0.05) & (out < 0.95)).sum() > 20


def test_forward_matches_naive_reference_at_official_size():
    vertices = grid_star_polygons(1, 36, 64, seed=5)
    expected = naive_soft_rasterize(vertices, size=64, tau=0.1)
    out = soft_rasterize(vertices.float())
    torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize('tau', [0.1, 2.0])
def test_gradient_matches_dense_autograd_reference(tau):
    weights = torch.rand(
        3,
        32,
        32,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(0)) - 0.3
    for vertices in (grid_star_polygons(3, 36, 32, seed=21),
                     random_polygons(3, 9, 32, seed=22)):
        vertices.requires_grad_()
        out = soft_rasterize(vertices, size=32, tau=tau)
        ref = dense_autograd_soft_rasterize(vertices, size=32, tau=tau)
        torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
        grad, = torch.autograd.grad((out * weights).sum(), vertices)
        grad_ref, = torch.autograd.grad((ref * weights).sum(), vertices)
        assert grad.abs().max() > 1e-3
        torch.testing.assert_close(grad, grad_ref, atol=1e-9, rtol=1e-7)


def test_gradient_of_one_pixel_reaches_only_the_nearest_edge():
    vertices = grid_star_polygons(1, 12, 24, seed=3).requires_grad_()
    out = soft_rasterize(vertices, size=24, tau=1.0)
    boundary = ((out[0] > 0.2) & (out[0] < 0.8)).nonzero()
    assert len(boundary) > 5
    for i, j in boundary[:5].tolist():
        grad, = torch.autograd.grad(out[0, i, j], vertices, retain_graph=True)
        moved = grad[0].abs().sum(-1).nonzero().flatten().tolist()
        assert 1 <= len(moved) <= 2
        if len(moved) == 2:  # the two endpoints of one edge
            assert (moved[1] - moved[0]) % 12 in (1, 11)


def test_soft_mask_tends_to_hard_mask_as_tau_falls():
    vertices = grid_star_polygons(4, 36, 64, seed=9)
    hard = hard_rasterize(vertices, 64)
    gaps = [(soft_rasterize(vertices, tau=tau) - hard).abs().mean().item()
            for tau in (1.0, 0.1, 0.01, 0.001)]
    # The transition band is ~sqrt(tau) wide: each step divides the gap by
    # about sqrt(10) ~ 3.2.
    assert all(a > 2.5 * b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 5e-3, gaps


@settings(max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    kind=st.sampled_from(['star', 'random']),
    num_vertices=st.integers(3, 40))
def test_threshold_at_half_equals_hard_inside_test(seed, kind, num_vertices):
    make = grid_star_polygons if kind == 'star' else random_polygons
    vertices = make(2, num_vertices, 20, seed)
    soft = soft_rasterize(vertices, size=20, tau=0.1)
    hard = hard_rasterize(vertices, size=20)
    # Random float vertices: no pixel centre lies exactly on an edge.
    assert torch.equal((soft > 0.5).double(), hard)


def test_pixels_on_edges_are_one_half():
    square = torch.tensor([[[2.0, 2.0], [8.0, 2.0], [8.0, 8.0], [2.0, 8.0]]])
    soft = soft_rasterize(square, size=11, tau=0.1)[0]
    assert soft[2, 2:9].eq(0.5).all() and soft[2:9, 8].eq(0.5).all()
    assert soft[5, 5] > 0.999 and soft[0, 0] < 1e-3


@pytest.mark.parametrize('chunk_size', [1, 3, 1000])
def test_chunked_equals_unchunked(chunk_size):
    vertices = grid_star_polygons(
        7, 20, 24, seed=4, dtype=torch.float32).requires_grad_()
    weights = torch.rand(7, 24, 24, generator=torch.Generator().manual_seed(1))
    full = soft_rasterize(vertices, size=24, chunk_size=7)
    grad_full, = torch.autograd.grad((full * weights).sum(), vertices)
    part = soft_rasterize(vertices, size=24, chunk_size=chunk_size)
    grad_part, = torch.autograd.grad((part * weights).sum(), vertices)
    assert torch.equal(full, part)
    assert torch.equal(grad_full, grad_part)


def test_module_matches_function_and_has_no_parameters():
    raster = SoftPolygonRasterizer(size=16, tau=0.5, chunk_size=2)
    vertices = grid_star_polygons(3, 10, 16, seed=2)
    assert torch.equal(raster(vertices), soft_rasterize(vertices, 16, 0.5))
    assert len(list(raster.parameters())) == 0
    assert 'size=16' in repr(raster) and 'tau=0.5' in repr(raster)


def test_invariances():
    vertices = grid_star_polygons(2, 15, 24, seed=8)
    out = soft_rasterize(vertices, size=24, tau=0.3)
    # Orientation and starting vertex do not matter.
    torch.testing.assert_close(
        soft_rasterize(vertices.flip(1).roll(3, 1), size=24, tau=0.3),
        out,
        atol=1e-12,
        rtol=0)
    # Integer translation by (dx, dy) = (2, -1) shifts the mask.
    shifted = soft_rasterize(vertices + torch.tensor([2.0, -1.0]), 24, 0.3)
    torch.testing.assert_close(
        shifted[:, :-1, 2:], out[:, 1:, :-2], atol=1e-12, rtol=0)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_half_precision_under_cpu_autocast(dtype):
    vertices = grid_star_polygons(3, 36, 32,
                                  seed=6).to(dtype).requires_grad_()
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out = soft_rasterize(vertices, size=32)
        loss = (out * out).sum()
    loss.backward()
    assert out.dtype == torch.float32
    assert torch.equal(out, soft_rasterize(vertices.detach().float(), 32))
    assert vertices.grad.dtype == dtype
    assert torch.isfinite(
        vertices.grad).all() and vertices.grad.abs().sum() > 0


def test_empty_batch():
    vertices = torch.zeros(0, 36, 2, requires_grad=True)
    out = soft_rasterize(vertices)
    assert out.shape == (0, 64, 64) and out.dtype == torch.float32
    out.sum().backward()  # still part of the graph
    assert vertices.grad.shape == (0, 36, 2)
    assert soft_rasterize(torch.zeros(0, 0, 2), size=8).shape == (0, 8, 8)


def test_non_finite_polygons_give_empty_masks_and_zero_gradients():
    good = grid_star_polygons(1, 8, 16, seed=1)
    bad_nan = good.clone()
    bad_nan[0, 3, 0] = float('nan')
    bad_inf = good.clone()
    bad_inf[0, 0, 1] = float('inf')
    vertices = torch.cat([good, bad_nan, bad_inf]).requires_grad_()
    out = soft_rasterize(vertices, size=16, tau=0.5)
    assert torch.isfinite(out).all()
    assert out[1:].eq(0).all()
    torch.testing.assert_close(out[:1], soft_rasterize(good, 16, 0.5))
    out.sum().backward()
    assert torch.isfinite(vertices.grad).all()
    assert vertices.grad[1:].eq(0).all() and vertices.grad[0].abs().sum() > 0


def test_degenerate_polygons_are_defined():
    size, tau = 16, 0.5
    point = torch.full((1, 5, 2), 7.3, dtype=torch.float64)
    point.requires_grad_()
    dot = soft_rasterize(point, size, tau)
    coords = torch.arange(size, dtype=torch.float64)
    sq = (coords[None, :] - 7.3)**2 + (coords[:, None] - 7.3)**2
    torch.testing.assert_close(dot[0], torch.sigmoid(-sq / tau))
    dot.sum().backward()
    assert torch.isfinite(point.grad).all() and point.grad.abs().sum() > 0
    # Repeated vertices (zero-length edges) change nothing.
    poly = grid_star_polygons(1, 6, size, seed=3)
    repeated = poly[:, [0, 0, 1, 2, 2, 2, 3, 4, 5, 5]]
    torch.testing.assert_close(
        soft_rasterize(repeated, size, tau), soft_rasterize(poly, size, tau))
    # One and two vertices: a dot and a segment, with no inside.
    for num_vertices in (1, 2):
        out = soft_rasterize(poly[:, :num_vertices], size, tau)
        assert torch.isfinite(out).all() and out.max() <= 0.5


def test_huge_coordinates_stay_finite():
    vertices = torch.tensor(
        [[[-1e30, -1e30], [1e30, -1e30], [1e30, 1e30], [-1e30, 1e30]]],
        requires_grad=True)
    out = soft_rasterize(vertices, size=8)
    assert out.eq(1).all()
    out.sum().backward()
    assert torch.isfinite(vertices.grad).all()


def test_bad_arguments_raise():
    vertices = grid_star_polygons(1, 5, 8, seed=0)
    with pytest.raises(ValueError):
        soft_rasterize(torch.zeros(2, 0, 2))
    with pytest.raises(ValueError):
        soft_rasterize(vertices, tau=0.0)
    with pytest.raises(ValueError):
        soft_rasterize(vertices, tau=float('nan'))
    with pytest.raises(ValueError):
        soft_rasterize(vertices, size=0)
    with pytest.raises(ValueError):
        soft_rasterize(vertices, chunk_size=0)
    with pytest.raises(ValueError):
        soft_rasterize(vertices[0])
    with pytest.raises(ValueError):
        SoftPolygonRasterizer(tau=-1.0)
