"""Tests for mmdet_ext.structures.polygons.PolygonTensor."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.shapes import regular_polygon
from mmdet_ext.structures.polygons import PolygonTensor
from mmdet_ext.testing import star_polygon

SQUARE = np.array([0, 0, 10, 0, 10, 10, 0, 10], dtype=np.float64)


def numpy_area_centroid(flat: np.ndarray):
    """Independent shoelace area and centroid of one ring."""
    xy = flat.reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2
    cx = ((x + xn) * cross).sum() / (6 * area)
    cy = ((y + yn) * cross).sum() / (6 * area)
    return abs(area), np.array([cx, cy])


def assert_all_finite(polys: PolygonTensor) -> None:
    edges, _ = polys.edges()
    for out in (polys.vertices, polys.part_areas(), polys.areas(),
                polys.area_centroid(), polys.area_centroid(False),
                polys.bboxes(), edges, polys.largest_part().vertices):
        assert torch.isfinite(out).all()


def test_layout_of_multi_part_objects():
    tri = np.array([20, 20, 30, 20, 25, 30], dtype=np.float64)
    polys = PolygonTensor.from_polygon_masks([[SQUARE, tri], [tri]])
    assert len(polys) == 2
    assert polys.vertices.shape == (2, 7, 2)
    assert polys.part_ids.tolist() == [[0, 0, 0, 0, 1, 1, 1],
                                       [0, 0, 0, -1, -1, -1, -1]]
    assert polys.num_parts.tolist() == [2, 1]
    assert polys.valid.tolist() == [True, True]
    assert polys.vertices[1, 3:].abs().sum() == 0
    assert polys.next_vertex_indices.tolist() == [[1, 2, 3, 0, 5, 6, 4],
                                                  [1, 2, 0, 3, 4, 5, 6]]


def test_edges_close_each_part():
    tri = np.array([20, 20, 30, 20, 25, 30], dtype=np.float64)
    polys = PolygonTensor.from_polygon_masks([[SQUARE, tri]],
                                             dtype=torch.float64)
    edges, valid = polys.edges()
    assert edges.shape == (1, 7, 4)
    assert valid.all()
    assert edges[0, 3].tolist() == [0, 10, 0, 0]  # square closes
    assert edges[0, 6].tolist() == [25, 30, 20, 20]  # triangle closes
    # Every edge ends where the next edge of the same part starts.
    assert edges[0, 0, 2:].tolist() == edges[0, 1, :2].tolist()


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num_parts=st.integers(1, 4))
def test_areas_centroids_bboxes_match_numpy(seed, num_parts):
    rng = np.random.default_rng(seed)
    parts = [
        star_polygon(
            rng,
            int(rng.integers(3, 30)),
            centre=rng.uniform(-50, 500, 2),
            radius=rng.uniform(1, 100),
            min_radius_ratio=0.2) for _ in range(num_parts)
    ]
    polys = PolygonTensor.from_polygon_masks([parts], dtype=torch.float64)
    ref = [numpy_area_centroid(part) for part in parts]
    ref_areas = np.array([area for area, _ in ref])
    np.testing.assert_allclose(
        polys.part_areas()[0].numpy(), ref_areas, rtol=1e-9)
    np.testing.assert_allclose(
        float(polys.areas()[0]), ref_areas.sum(), rtol=1e-9)
    largest = int(np.argmax(ref_areas))
    np.testing.assert_allclose(
        polys.area_centroid()[0].numpy(),
        ref[largest][1],
        rtol=1e-9,
        atol=1e-7)
    weighted = sum(area * c for area, c in ref) / ref_areas.sum()
    np.testing.assert_allclose(
        polys.area_centroid(False)[0].numpy(), weighted, rtol=1e-9, atol=1e-7)
    all_xy = np.concatenate(parts).reshape(-1, 2)
    np.testing.assert_allclose(
        polys.bboxes()[0].numpy(),
        np.concatenate([all_xy.min(0), all_xy.max(0)]),
        rtol=1e-12)
    single = polys.largest_part()
    assert single.num_parts.tolist() == [1]
    np.testing.assert_allclose(
        single.vertices[0].numpy().reshape(-1), parts[largest], rtol=1e-12)


def test_orientation_does_not_change_area_or_centroid():
    reverse = SQUARE.reshape(-1, 2)[::-1].reshape(-1)
    polys = PolygonTensor.from_polygon_masks([[SQUARE], [reverse]])
    assert polys.areas().tolist() == [100.0, 100.0]
    assert polys.area_centroid().tolist() == [[5.0, 5.0], [5.0, 5.0]]


def test_largest_part_breaks_ties_by_first_part():
    shifted = SQUARE + 100  # same area as SQUARE
    small = np.array([50, 50, 51, 50, 51, 51], dtype=np.float64)
    polys = PolygonTensor.from_polygon_masks([[small, SQUARE, shifted]])
    single = polys.largest_part()
    assert single.vertices.shape == (1, 4, 2)
    assert single.vertices[0].reshape(-1).tolist() == SQUARE.tolist()
    assert single.part_ids.tolist() == [[0, 0, 0, 0]]


def test_largest_part_compacts_rows_of_different_lengths():
    big = regular_polygon(12, 30.0, (100, 100))
    polys = PolygonTensor.from_polygon_masks([[SQUARE, big], [SQUARE]])
    single = polys.largest_part()
    assert single.vertices.shape == (2, 12, 2)
    assert single.part_ids[0].tolist() == [0] * 12
    assert single.part_ids[1].tolist() == [0] * 4 + [-1] * 8
    torch.testing.assert_close(single.areas(), polys.part_areas().amax(1))


def test_sanitisation_counts_and_drops():
    bad_parts = [
        np.array([0, 0, 1, 1], dtype=np.float64),  # too few vertices
        np.array([0, 0, 1, 1, 2], dtype=np.float64),  # odd coordinates
        np.array([0, 0, np.nan, 1, 2, 0], dtype=np.float64),  # non-finite
        np.array([0, 0, 1, 1, 2, 2], dtype=np.float64),  # collinear
        np.array([0, 0, 0, 0, 3, 3, 3, 3], dtype=np.float64),  # 2 distinct
    ]
    with_dups = np.array([0, 0, 0, 0, 4, 0, 4, 4, 4, 4, 0, 4, 0, 0],
                         dtype=np.float64)
    polys = PolygonTensor.from_polygon_masks(
        [bad_parts, [with_dups, np.array([np.inf] * 6)], []])
    assert polys.dropped == {
        'odd_coordinates': 1,
        'non_finite': 2,
        'too_few_vertices': 2,
        'zero_area': 1,
        'no_valid_part': 2,
        'duplicate_vertices': 5,
    }
    assert polys.valid.tolist() == [False, True, False]
    assert polys.num_parts.tolist() == [0, 1, 0]
    # The duplicate-free ring keeps its 4 distinct corners.
    assert polys.vertex_valid[1].sum() == 4
    assert polys.areas().tolist() == [0.0, 16.0, 0.0]
    assert polys.area_centroid().tolist() == [[0, 0], [2, 2], [0, 0]]
    assert polys.bboxes()[0].tolist() == [0, 0, 0, 0]
    edges, edge_valid = polys.edges()
    assert not edge_valid[0].any() and not edge_valid[2].any()
    assert edges[0].abs().sum() == 0
    assert_all_finite(polys)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_garbage_never_yields_non_finite_values(seed):
    rng = np.random.default_rng(seed)
    objects = []
    for _ in range(int(rng.integers(0, 5))):
        parts = []
        for _ in range(int(rng.integers(0, 3))):
            coords = rng.choice([0.0, 1.0, 5.0, np.nan, np.inf],
                                size=int(rng.integers(0, 12)))
            parts.append(coords)
        objects.append(parts)
    for dtype in (torch.float32, torch.float64):
        polys = PolygonTensor.from_polygon_masks(objects, dtype=dtype)
        assert len(polys) == len(objects)
        assert_all_finite(polys)
        assert (polys.areas()[polys.valid] > 0).all()
        assert (polys.areas()[~polys.valid] == 0).all()


def test_empty_input():
    polys = PolygonTensor.from_polygon_masks([])
    assert len(polys) == 0
    assert polys.vertices.shape == (0, 0, 2)
    assert polys.areas().shape == (0, )
    assert polys.area_centroid().shape == (0, 2)
    assert polys.bboxes().shape == (0, 4)
    assert polys.edges()[0].shape == (0, 0, 4)
    assert len(polys.largest_part()) == 0


def test_all_objects_invalid():
    polys = PolygonTensor.from_polygon_masks([[np.zeros(6)], []])
    assert polys.vertices.shape == (2, 0, 2)
    assert polys.valid.tolist() == [False, False]
    assert polys.area_centroid().tolist() == [[0, 0], [0, 0]]
    assert polys.bboxes().abs().sum() == 0


def test_accepts_objects_with_masks_attribute():

    class FakePolygonMasks:
        masks = [[SQUARE]]

    polys = PolygonTensor.from_polygon_masks(FakePolygonMasks())
    assert polys.areas().tolist() == [100.0]


def test_from_mmdet_polygon_masks_after_transforms():
    mask_module = pytest.importorskip('mmdet.structures.mask')
    tri = np.array([20, 20, 30, 20, 25, 30], dtype=np.float64)
    masks = mask_module.PolygonMasks([[SQUARE, tri], [tri]], 40, 40)
    masks = masks.rescale((80, 80)).flip('horizontal')
    polys = PolygonTensor.from_polygon_masks(masks, dtype=torch.float64)
    assert polys.num_parts.tolist() == [2, 1]
    np.testing.assert_allclose(polys.areas().numpy(), masks.areas, rtol=1e-6)


def test_select_move_and_round_trip():
    polys = PolygonTensor.from_polygon_masks(
        [[SQUARE], [], [regular_polygon(5, 3.0)]], dtype=torch.float64)
    valid = polys[polys.valid]
    assert len(valid) == 2
    assert valid.dropped['no_valid_part'] == 1
    assert len(polys[[2]]) == 1 and len(polys[0]) == 1
    as32 = polys.to(dtype=torch.float32)
    assert as32.dtype == torch.float32 and as32.device == polys.device
    back = polys.to_list()
    assert back[1] == []
    np.testing.assert_allclose(back[0][0], SQUARE)
    assert 'num_objects=3' in repr(polys)
