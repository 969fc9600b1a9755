"""Tests for mmdet_ext.geometry.ray_targets and polygon_ops."""
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.path import Path
import shapely
from shapely.geometry import LinearRing

from helpers.rays import polygon_to_rays
from helpers.shapes import regular_polygon
from mmdet_ext.geometry.polygon_ops import (boundary_distances,
                                            points_in_polygons)
from mmdet_ext.geometry.ray_targets import (decode_rays, polar_ray_targets,
                                            ray_angles, ray_directions)
from mmdet_ext.structures.polygons import PolygonTensor
from mmdet_ext.testing import reference_polar_ray_targets, star_polygon


def random_image(rng: np.random.Generator,
                 max_objects: int = 6,
                 max_parts: int = 3):
    """Random multi-object, multi-part polygons with sizes and positions."""
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        parts = [
            star_polygon(
                rng,
                int(rng.integers(3, 40)),
                centre=rng.uniform(0, 600, 2),
                radius=rng.uniform(2, 150),
                min_radius_ratio=0.2)
            for _ in range(int(rng.integers(1, max_parts + 1)))
        ]
        objects.append(parts)
    return objects


def random_points(rng: np.random.Generator,
                  polys: PolygonTensor,
                  max_per_object: int = 30):
    """Points in and around each object's box, with their object index."""
    boxes = polys.bboxes().double().numpy()
    points, inds = [], []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        num = int(rng.integers(0, max_per_object + 1))
        pad_x, pad_y = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
        points.append(
            np.stack([
                rng.uniform(x1 - pad_x, x2 + pad_x, num),
                rng.uniform(y1 - pad_y, y2 + pad_y, num)
            ],
                     axis=1))
        inds.append(np.full(num, i))
    return (torch.as_tensor(np.concatenate(points), dtype=polys.dtype),
            torch.as_tensor(np.concatenate(inds), dtype=torch.long))


def rounding_tolerance(dtype, center, radius):
    """(rtol, atol): float32 vertices are rounded relative to |centre|, and a
    ray grazing a vertex may take the neighbouring edge within the crossing
    slack, which amplifies that rounding (seen: 1.3e-3 for r=1 at |c|=778)."""
    if dtype == torch.float64:
        return 1e-9, 0.0
    return 1e-5, 32 * 1.2e-7 * (max(map(abs, center)) + radius)


def near_boundary(parts, pts: np.ndarray, tol: float) -> np.ndarray:
    """True for points closer than tol to any part's boundary."""
    geoms = shapely.points(pts)
    near = np.zeros(len(pts), dtype=bool)
    for part in parts:
        near |= shapely.distance(LinearRing(part.reshape(-1, 2)), geoms) < tol
    return near


def one_object(flat: np.ndarray, dtype=torch.float64):
    polys = PolygonTensor.from_polygon_masks([[flat]], dtype=dtype)
    edges, valid = polys.edges()
    return polys, edges, valid


def test_ray_angles_and_directions():
    angles = ray_angles(36, dtype=torch.float64)
    assert angles.shape == (36, )
    assert angles[0] == 0 and math.isclose(float(angles[9]), math.pi / 2)
    dirs = ray_directions(4, dtype=torch.float64)
    torch.testing.assert_close(
        dirs,
        torch.tensor([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]],
                     dtype=torch.float64),
        atol=1e-15,
        rtol=0)
    assert ray_angles(8, dtype=torch.float32).dtype == torch.float32


def test_square_from_centre_by_hand():
    square = np.array([0, 0, 10, 0, 10, 10, 0, 10], dtype=np.float64)
    _, edges, valid = one_object(square)
    rays = polar_ray_targets(
        torch.tensor([[5., 5.]], dtype=torch.float64),
        edges,
        valid,
        torch.zeros(1, dtype=torch.long),
        num_rays=8)
    diag = 5 * math.sqrt(2)
    expected = torch.tensor([[5, diag, 5, diag, 5, diag, 5, diag]],
                            dtype=torch.float64)
    torch.testing.assert_close(rays, expected)


@settings(max_examples=200, deadline=None)
@given(
    num_sides=st.integers(3, 24),
    radius=st.floats(0.5, 800),
    rotation=st.floats(0, 2 * math.pi),
    center=st.tuples(st.floats(-500, 1500), st.floats(-500, 1500)),
    num_rays=st.sampled_from([8, 36, 72]),
    dtype=st.sampled_from([torch.float64, torch.float32]))
def test_regular_polygon_matches_analytic_distance(num_sides, radius, rotation,
                                                   center, num_rays, dtype):
    flat = regular_polygon(num_sides, radius, center, rotation)
    _, edges, valid = one_object(flat, dtype)
    point = torch.tensor([center], dtype=dtype)
    obj = torch.zeros(1, dtype=torch.long)
    sector = 2 * math.pi / num_sides
    apothem = radius * math.cos(math.pi / num_sides)
    theta = np.arange(num_rays) * 2 * math.pi / num_rays
    delta = np.mod(theta - rotation, sector) - sector / 2
    expected = apothem / np.cos(delta)
    rtol, atol = rounding_tolerance(dtype, center, radius)
    for mode in ('farthest', 'nearest'):
        rays = polar_ray_targets(point, edges, valid, obj, num_rays, mode)
        np.testing.assert_allclose(
            rays[0].double().numpy(), expected, rtol=rtol, atol=atol)


@settings(max_examples=200, deadline=None)
@given(
    num_sides=st.integers(3, 12),
    rays_per_side=st.integers(1, 6),
    first_ray=st.integers(0, 71),
    radius=st.floats(0.5, 800),
    center=st.tuples(st.floats(-500, 1500), st.floats(-500, 1500)),
    dtype=st.sampled_from([torch.float64, torch.float32]))
def test_rays_through_vertices_equal_circumradius(num_sides, rays_per_side,
                                                  first_ray, radius, center,
                                                  dtype):
    num_rays = num_sides * rays_per_side
    first_ray %= num_rays
    rotation = 2 * math.pi * first_ray / num_rays
    flat = regular_polygon(num_sides, radius, center, rotation)
    _, edges, valid = one_object(flat, dtype)
    rays = polar_ray_targets(
        torch.tensor([center], dtype=dtype), edges, valid,
        torch.zeros(1, dtype=torch.long), num_rays)
    vertex_rays = (first_ray + rays_per_side * np.arange(num_sides))
    rtol, atol = rounding_tolerance(dtype, center, radius)
    np.testing.assert_allclose(
        rays[0, vertex_rays % num_rays].double().numpy(),
        radius,
        rtol=rtol,
        atol=atol)


def test_official_tolerance_can_miss_vertex_rays():
    """Documents why edge_tol defaults to a rounding slack: with the exact
    official rule, rounding can make a vertex ray miss both adjacent
    edges."""
    misses = 0
    rng = np.random.default_rng(0)
    for _ in range(300):
        num_sides = int(rng.integers(3, 13))
        radius, center = rng.uniform(1, 500), rng.uniform(-100, 900, 2)
        flat = regular_polygon(num_sides, radius, tuple(center), 0.0)
        _, edges, valid = one_object(flat)
        point = torch.as_tensor(center[None])
        obj = torch.zeros(1, dtype=torch.long)
        exact = polar_ray_targets(
            point, edges, valid, obj, num_sides, edge_tol=0.0)
        robust = polar_ray_targets(point, edges, valid, obj, num_sides)
        misses += int((exact < 0.5 * radius).sum())
        np.testing.assert_allclose(robust.numpy(), radius, rtol=1e-9)
    assert misses > 0


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_points_in_polygons_agrees_with_matplotlib(seed):
    rng = np.random.default_rng(seed)
    objects = random_image(rng)
    polys = PolygonTensor.from_polygon_masks(objects, dtype=torch.float64)
    points, obj_inds = random_points(rng, polys, max_per_object=40)
    edges, edge_valid = polys.edges()
    inside = points_in_polygons(
        points,
        edges,
        edge_valid,
        obj_inds,
        chunk_size=int(rng.integers(1, 50)))
    for i, parts in enumerate(objects):
        sel = (obj_inds == i).numpy()
        pts = points.numpy()[sel]
        expected = np.zeros(len(pts), dtype=bool)
        for part in parts:  # even-odd over parts = XOR of the parts
            expected ^= Path(part.reshape(-1, 2)).contains_points(pts)
        near = near_boundary(parts, pts, 1e-6)
        got = inside.numpy()[sel]
        np.testing.assert_array_equal(got[~near], expected[~near])


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_boundary_distances_agree_with_shapely(seed):
    rng = np.random.default_rng(seed)
    objects = random_image(rng, max_parts=2)
    polys = PolygonTensor.from_polygon_masks(objects, dtype=torch.float64)
    points, obj_inds = random_points(rng, polys, max_per_object=10)
    edges, edge_valid = polys.edges()
    dist = boundary_distances(points, edges, edge_valid, obj_inds)
    geoms = shapely.points(points.numpy())
    for i, parts in enumerate(objects):
        sel = (obj_inds == i).numpy()
        expected = np.min([
            shapely.distance(LinearRing(part.reshape(-1, 2)), geoms[sel])
            for part in parts
        ],
                          axis=0)
        np.testing.assert_allclose(
            dist.numpy()[sel], expected, rtol=1e-9, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num_rays=st.sampled_from([12, 36]))
def test_batched_equals_per_object_reference(seed, num_rays):
    rng = np.random.default_rng(seed)
    objects = random_image(rng)
    if rng.uniform() < 0.2:
        objects.append([np.zeros(6)])  # an invalid object
    polys = PolygonTensor.from_polygon_masks(objects, dtype=torch.float64)
    points, obj_inds = random_points(rng, polys)
    edges, edge_valid = polys.edges()
    # The official rule has no slack on the edge parameter.
    got = polar_ray_targets(
        points,
        edges,
        edge_valid,
        obj_inds,
        num_rays,
        chunk_size=int(rng.integers(1, 64)),
        edge_tol=0.0)
    expected = reference_polar_ray_targets(points, edges, edge_valid, obj_inds,
                                           num_rays)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


def test_float32_agrees_with_float64():
    rng = np.random.default_rng(1)
    objects = sum((random_image(rng) for _ in range(10)), [])
    polys64 = PolygonTensor.from_polygon_masks(objects, dtype=torch.float64)
    points, obj_inds = random_points(rng, polys64)
    edges, edge_valid = polys64.edges()
    rays64 = polar_ray_targets(points, edges, edge_valid, obj_inds)
    polys32 = polys64.to(dtype=torch.float32)
    edges32, _ = polys32.edges()
    rays32 = polar_ray_targets(points.float(), edges32, edge_valid, obj_inds)
    assert rays32.dtype == torch.float32
    close = torch.isclose(rays32.double(), rays64, rtol=1e-4, atol=1e-3)
    # Only rays grazing a vertex may flip to another crossing.
    assert close.float().mean() > 0.999


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_bounds_and_mode_ordering(seed):
    rng = np.random.default_rng(seed)
    objects = random_image(rng)
    polys = PolygonTensor.from_polygon_masks(objects, dtype=torch.float64)
    points, obj_inds = random_points(rng, polys)
    edges, edge_valid = polys.edges()
    far = polar_ray_targets(points, edges, edge_valid, obj_inds)
    near = polar_ray_targets(
        points, edges, edge_valid, obj_inds, mode='nearest')
    assert torch.isfinite(far).all() and torch.isfinite(near).all()
    assert (far >= near).all()
    assert (near >= 0.01).all()
    # A crossing lies on an edge, so never beyond the farthest vertex.
    verts = polys.vertices[obj_inds]  # (P, V, 2)
    reach = (verts - points[:, None]).norm(dim=-1)
    reach = reach.masked_fill(~polys.vertex_valid[obj_inds], 0).amax(1)
    assert (far <= reach[:, None] * (1 + 1e-6) + 0.01).all()


def test_nearest_follows_a_concave_boundary():
    # U shape: from inside the left arm, the ray to the right exits at
    # x = 10 (nearest) but the farthest crossing is the right arm's x = 30.
    u_shape = np.array(
        [0, 0, 30, 0, 30, 30, 20, 30, 20, 10, 10, 10, 10, 30, 0, 30],
        dtype=np.float64)
    _, edges, valid = one_object(u_shape)
    point = torch.tensor([[5., 20.]], dtype=torch.float64)
    obj = torch.zeros(1, dtype=torch.long)
    far = polar_ray_targets(point, edges, valid, obj, 4)
    near = polar_ray_targets(point, edges, valid, obj, 4, mode='nearest')
    torch.testing.assert_close(
        far[0], torch.tensor([25., 10., 5., 20.], dtype=torch.float64))
    torch.testing.assert_close(
        near[0], torch.tensor([5., 10., 5., 20.], dtype=torch.float64))


def test_miss_value_exactly_for_rays_pointing_away():
    square = np.array([0, 0, 10, 0, 10, 10, 0, 10], dtype=np.float64)
    _, edges, valid = one_object(square)
    # Left of the square, level with its middle: only rays with cos > 0
    # whose line passes through the square can hit.
    point = torch.tensor([[-5., 5.]], dtype=torch.float64)
    rays = polar_ray_targets(
        point,
        edges,
        valid,
        torch.zeros(1, dtype=torch.long),
        36,
        miss_value=0.25)[0]
    theta = torch.arange(36, dtype=torch.float64) * 2 * math.pi / 36
    # Lines from (-5, 5) towards the square's left side span +-45 deg.
    hits = torch.atan2(5 * theta.sin(), 5 * theta.cos()).abs() < math.pi / 4
    assert (rays[~hits] == 0.25).all()
    assert (rays[hits] > 5).all()
    assert rays[0] == 15.0  # farthest crossing, the right side


def test_objects_without_edges_and_empty_inputs():
    polys = PolygonTensor.from_polygon_masks(
        [[np.zeros(6)], [regular_polygon(5, 3.0, (10, 10))]],
        dtype=torch.float64)
    edges, valid = polys.edges()
    points = torch.tensor([[0., 0.], [10., 10.]], dtype=torch.float64)
    rays = polar_ray_targets(points, edges, valid, torch.tensor([0, 1]))
    assert (rays[0] == 0.01).all() and (rays[1] > 2).all()
    empty = polar_ray_targets(points[:0], edges, valid,
                              torch.zeros(0, dtype=torch.long))
    assert empty.shape == (0, 36)
    none = PolygonTensor.from_polygon_masks([[np.zeros(6)]])
    e0, v0 = none.edges()
    out = polar_ray_targets(
        torch.zeros(3, 2), e0, v0, torch.zeros(3, dtype=torch.long))
    assert out.shape == (3, 36) and (out == 0.01).all()
    with pytest.raises(ValueError):
        polar_ray_targets(
            points, edges, valid, torch.tensor([0, 1]), mode='middle')


def test_points_on_nan_coordinates_never_produce_nan():
    polys = PolygonTensor.from_polygon_masks(
        [[regular_polygon(6, 5.0, (10, 10))]])
    edges, valid = polys.edges()
    points = torch.tensor([[math.nan, 10.], [10., math.inf]])
    rays = polar_ray_targets(points, edges, valid, torch.tensor([0, 0]))
    assert (rays == 0.01).all()


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    num_sides=st.integers(3, 30),
    dtype=st.sampled_from([torch.float64, torch.float32]))
def test_decode_of_encode_lands_on_the_boundary(seed, num_sides, dtype):
    rng = np.random.default_rng(seed)
    # Convex: a regular polygon with random jitter of the angles only.
    angles = np.sort(rng.uniform(0, 2 * math.pi, num_sides))
    radius, center = rng.uniform(5, 300), rng.uniform(0, 800, 2)
    flat = np.stack([
        center[0] + radius * np.cos(angles),
        center[1] + radius * np.sin(angles)
    ], 1).reshape(-1)
    polys, edges, valid = one_object(flat, dtype)
    if not polys.valid.all():
        return
    weights = rng.dirichlet(np.ones(len(angles)))
    interior = (weights[:, None] * flat.reshape(-1, 2)).sum(0)
    points = torch.as_tensor(interior[None], dtype=dtype)
    obj = torch.zeros(1, dtype=torch.long)
    # A point within miss_value of an edge legitimately gets 0.01 rays.
    assume(boundary_distances(points, edges, valid, obj)[0] > 0.1)
    rays = polar_ray_targets(points, edges, valid, obj, 36)
    verts = decode_rays(points, rays)
    assert verts.shape == (1, 36, 2)
    dist = boundary_distances(verts[0].double(), edges.double(), valid,
                              torch.zeros(36, dtype=torch.long))
    tol = 1e-7 if dtype == torch.float64 else 1e-3
    assert dist.max() < tol * max(1.0, radius)


def test_decode_clips_to_image():
    points = torch.tensor([[5., 5.]])
    rays = torch.full((1, 4), 10.)
    verts = decode_rays(points, rays, max_shape=(8, 12))
    assert verts[0].tolist() == [[12., 5.], [5., 8.], [0., 5.], [5., 0.]]
    assert decode_rays(points, rays)[0, 0].tolist() == [15., 5.]


def test_polygon_to_rays_uses_origins_and_chunking_is_invisible():
    rng = np.random.default_rng(3)
    polys = PolygonTensor.from_polygon_masks(
        random_image(rng), dtype=torch.float64)
    points, rays = polygon_to_rays(polys, origin_method='inside')
    assert points.shape == (len(polys), 2)
    assert rays.shape == (len(polys), 36)
    assert (rays > 0.01).all()  # inside origins: every ray hits
    pts, obj = random_points(rng, polys)
    _, a = polygon_to_rays(polys, pts, obj, chunk_size=1)
    _, b = polygon_to_rays(polys, pts, obj)
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        polygon_to_rays(polys, torch.zeros(len(polys) + 1, 2))
