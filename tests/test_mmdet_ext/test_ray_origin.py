"""Tests for mmdet_ext.geometry.ray_origin."""
import json
import math

import numpy as np
import pytest
import shapely
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path
from shapely.geometry import LinearRing
from torch import Tensor

from helpers.shapes import regular_polygon
from mmdet_ext.geometry.ray_origin import (area_centroid, compute_ray_origins,
                                           inside_points)
from mmdet_ext.structures.polygons import PolygonTensor
from mmdet_ext.testing import star_polygon

# C shape opening to the left: its centroid falls into the notch.
C_SHAPE = np.array([0, 0, 30, 0, 30, 30, 0, 30, 0, 20, 20, 20, 20, 10, 0, 10],
                   dtype=np.float64)
U_SHAPE = np.array(
    [0, 0, 30, 0, 30, 30, 20, 30, 20, 10, 10, 10, 10, 30, 0, 30],
    dtype=np.float64)


def inside_even_odd(parts, points: np.ndarray) -> np.ndarray:
    """Independent even-odd test over all parts (matplotlib, XOR)."""
    inside = np.zeros(len(points), dtype=bool)
    for part in parts:
        inside ^= Path(np.asarray(part).reshape(-1, 2)).contains_points(points)
    return inside


def boundary_distance(parts, points: np.ndarray) -> np.ndarray:
    geoms = shapely.points(points)
    return np.min([
        shapely.distance(LinearRing(np.asarray(p).reshape(-1, 2)), geoms)
        for p in parts
    ],
                  axis=0)


def assert_strictly_inside(polys: PolygonTensor,
                           origins: Tensor,
                           min_dist: float = 0.0):
    """Every valid object's origin is inside all its parts' even-odd area."""
    objects = polys.to_list()
    points = origins.double().numpy()
    for i, parts in enumerate(objects):
        if not parts:
            continue
        pt = points[i:i + 1]
        assert inside_even_odd(parts, pt)[0], (i, pt)
        assert boundary_distance(parts, pt)[0] > min_dist, (i, pt)


def test_centroid_of_c_shape_is_outside_and_fallback_fixes_it():
    polys = PolygonTensor.from_polygon_masks([[C_SHAPE], [U_SHAPE]],
                                             dtype=torch.float64)
    centroid = compute_ray_origins(polys, 'centroid')
    # C: area 700, notch x in [0, 20], y in [10, 20].
    torch.testing.assert_close(
        centroid[0], torch.tensor([115 / 7, 15.], dtype=torch.float64))
    assert not inside_even_odd([C_SHAPE], centroid[:1].numpy())[0]
    assert not inside_even_odd([U_SHAPE], centroid[1:].numpy())[0]
    for method in ('inside', 'centroid_or_inside'):
        origins = compute_ray_origins(polys, method)
        assert_strictly_inside(polys, origins, min_dist=4.5)


def test_centroid_or_inside_keeps_inside_centroids():
    hexagon = regular_polygon(6, 10.0, (50, 40), 0.3)
    polys = PolygonTensor.from_polygon_masks([[hexagon], [C_SHAPE]],
                                             dtype=torch.float64)
    origins = compute_ray_origins(polys, 'centroid_or_inside')
    torch.testing.assert_close(origins[0], polys.area_centroid()[0])
    assert not torch.allclose(origins[1], polys.area_centroid()[1])


def test_truncation_matches_official_int():
    tri = np.array([0.5, 0.5, 10.9, 0.7, 3.3, 9.8], dtype=np.float64)
    polys = PolygonTensor.from_polygon_masks([[tri]], dtype=torch.float64)
    exact = area_centroid(polys)
    truncated = area_centroid(polys, truncate=True)
    assert truncated[0].tolist() == [float(int(v)) for v in exact[0]]
    assert compute_ray_origins(
        polys, 'centroid', truncate=True).equal(truncated)


def test_largest_only_switch():
    small = np.array([100, 100, 102, 100, 102, 102, 100, 102.])
    big = np.array([0, 0, 10, 0, 10, 10, 0, 10.])
    polys = PolygonTensor.from_polygon_masks([[small, big]],
                                             dtype=torch.float64)
    assert area_centroid(polys)[0].tolist() == [5.0, 5.0]
    expected = (4 * 101 + 100 * 5) / 104
    np.testing.assert_allclose(
        area_centroid(polys, largest_only=False)[0].numpy(),
        [expected, expected])


def test_inside_point_is_close_to_the_pole_of_simple_shapes():
    rect = np.array([0, 0, 40, 0, 40, 10, 0, 10], dtype=np.float64)
    hexagon = regular_polygon(6, 20.0, (100, 100), 0.1)
    polys = PolygonTensor.from_polygon_masks([[rect], [hexagon], [C_SHAPE]],
                                             dtype=torch.float64)
    origins = inside_points(polys)
    dist = [
        boundary_distance(parts, origins[i:i + 1].numpy())[0]
        for i, parts in enumerate(polys.to_list())
    ]
    # Optimal values: 5 (half the short side), the apothem, 5 (bar width/2).
    assert dist[0] > 0.99 * 5
    assert dist[1] > 0.99 * 20 * math.cos(math.pi / 6)
    assert dist[2] > 0.99 * 5


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([torch.float64, torch.float32]))
def test_inside_points_are_inside_random_multi_part_objects(seed, dtype):
    rng = np.random.default_rng(seed)
    objects = []
    for _ in range(int(rng.integers(1, 6))):
        objects.append([
            star_polygon(
                rng,
                int(rng.integers(3, 40)),
                centre=rng.uniform(0, 600, 2),
                radius=rng.uniform(1, 200),
                min_radius_ratio=0.05)
            for _ in range(int(rng.integers(1, 4)))
        ])
    polys = PolygonTensor.from_polygon_masks(objects, dtype=dtype)
    for method in ('inside', 'centroid_or_inside'):
        origins = compute_ray_origins(polys, method)
        assert torch.isfinite(origins).all()
        # Checked against the float64 polygons the tensors hold.
        assert_strictly_inside(polys.to(dtype=torch.float64), origins)


def test_invalid_objects_get_zero_origins():
    polys = PolygonTensor.from_polygon_masks(
        [[np.zeros(6)], [C_SHAPE], [np.array([1, 1, np.nan, 2, 3, 3.])]])
    for method in ('centroid', 'inside', 'centroid_or_inside'):
        origins = compute_ray_origins(polys, method)
        assert torch.isfinite(origins).all()
        assert origins[0].tolist() == [0, 0]
        assert origins[2].tolist() == [0, 0]
        assert origins[1].abs().sum() > 0
    assert inside_points(polys[[0]]).tolist() == [[0, 0]]
    assert inside_points(polys[[]]).shape == (0, 2)
    with pytest.raises(ValueError):
        compute_ray_origins(polys, 'center')


def test_chunked_inside_points_equal_unchunked():
    polys = PolygonTensor.from_polygon_masks(
        [[C_SHAPE], [U_SHAPE], [regular_polygon(7, 5.0, (3, 3))]],
        dtype=torch.float64)
    torch.testing.assert_close(
        inside_points(polys, chunk_size=1), inside_points(polys))


def load_coco_polygons(coco128_root):
    """Non-crowd polygon annotations of the coco128 sample, per image."""
    ann_file = coco128_root / 'annotations' / 'instances_train.json'
    if not ann_file.exists():
        pytest.skip(f'{ann_file} not found')
    with open(ann_file) as f:
        coco = json.load(f)
    per_image = {}
    for ann in coco['annotations']:
        seg = ann.get('segmentation')
        if ann.get('iscrowd', 0) or not isinstance(seg, list):
            continue
        per_image.setdefault(ann['image_id'], []).append(
            [np.asarray(part, dtype=np.float64) for part in seg])
    return per_image


def test_inside_origins_on_real_coco_polygons(coco128_root):
    """coco128_root (tests/conftest.py) skips when the sample is absent."""
    per_image = load_coco_polygons(coco128_root)
    total = outside_centroids = 0
    for objects in per_image.values():
        polys = PolygonTensor.from_polygon_masks(objects, dtype=torch.float64)
        centroid = compute_ray_origins(polys, 'centroid')
        for method in ('inside', 'centroid_or_inside'):
            origins = compute_ray_origins(polys, method)
            assert_strictly_inside(polys, origins)
        parts = polys.to_list()
        for i, obj in enumerate(parts):
            if obj:
                total += 1
                outside_centroids += int(
                    not inside_even_odd(obj, centroid[i:i + 1].numpy())[0])
    assert total > 100
    # Real data does contain objects whose centroid lies outside.
    assert outside_centroids > 0
