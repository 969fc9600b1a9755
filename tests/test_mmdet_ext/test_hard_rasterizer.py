"""Tests for mmdet_ext.geometry.hard_rasterizer."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path as MplPath
from pycocotools import mask as mask_utils
from shapely.geometry import Polygon
from torchvision.ops import roi_align

from conftest import COCO128_ROOT
from mmdet_ext.geometry.hard_rasterizer import (even_odd_grid_mask,
                                                hard_rasterize,
                                                polygons_to_crop_masks,
                                                polygons_to_rle,
                                                vertices_to_edges,
                                                vertices_to_rle)
from mmdet_ext.structures.rle_masks import RLEMasks
from mmdet_ext.testing import star_polygon

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)
SQUARE = np.array([10, 10, 30, 10, 30, 30, 10, 30], dtype=np.float64)


def star_ring(rng: np.random.Generator, num_vertices: int, centre,
              radius: float) -> np.ndarray:
    """Random simple (star-shaped, often concave) ring, shape (V, 2)."""
    return star_polygon(rng, num_vertices, centre, radius).reshape(-1, 2)


def decode_rles(rles, height: int, width: int) -> np.ndarray:
    """uint8 (N, H, W) masks of COCO RLEs."""
    return RLEMasks(rles, height, width).to_ndarray()


def pack_edges(objects, dtype=torch.float64, pad_value=0.0):
    """Padded (N, E, 4) edges and (N, E) validity of lists of rings."""
    num_edges = max([sum(len(r) for r in rings) for rings in objects] + [1])
    edges = torch.full((len(objects), num_edges, 4), pad_value, dtype=dtype)
    valid = torch.zeros((len(objects), num_edges), dtype=torch.bool)
    for n, rings in enumerate(objects):
        rows = [np.concatenate([r, np.roll(r, -1, 0)], 1) for r in rings]
        if rows:
            rows = torch.as_tensor(np.concatenate(rows), dtype=dtype)
            edges[n, :len(rows)] = rows
            valid[n, :len(rows)] = True
    return edges, valid


def crop_centres(box, size):
    """(R*R, 2) crop pixel centres, row-major, in the image frame."""
    x0, y0, x1, y1 = box
    j = np.arange(size)
    xs = x0 + (j + 0.5) * (x1 - x0) / size
    ys = y0 + (j + 0.5) * (y1 - y0) / size
    gy, gx = np.meshgrid(ys, xs, indexing='ij')
    return np.stack([gx.ravel(), gy.ravel()], 1)


def xor_contains(rings, points) -> np.ndarray:
    """Even-odd over parts: XOR of matplotlib's per-ring inside tests."""
    inside = np.zeros(len(points), dtype=bool)
    for ring in rings:
        inside ^= MplPath(ring).contains_points(points)
    return inside


def roi_align_reference(bitmaps: np.ndarray, boxes: torch.Tensor,
                        size: int) -> torch.Tensor:
    """Official target: RoIAlign(aligned=True) of bitmap n in box n, >= 0.5.

    Args:
        bitmaps (np.ndarray): (N, H, W) binary masks.
        boxes (Tensor): (N, 4) crop boxes.
        size (int): Crop size R.

    Returns:
        Tensor: (N, R, R) float in {0, 1}.
    """
    feats = torch.as_tensor(bitmaps, dtype=torch.float32)[:, None]
    batch_inds = torch.arange(len(boxes), dtype=torch.float32)[:, None]
    rois = torch.cat([batch_inds, boxes.float()], dim=1)
    crops = roi_align(
        feats,
        rois,
        output_size=size,
        spatial_scale=1.0,
        sampling_ratio=0,
        aligned=True)
    return (crops[:, 0] >= 0.5).float()


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    inter = (a.bool() & b.bool()).sum().item()
    union = (a.bool() | b.bool()).sum().item()
    return inter / max(union, 1)


# ---------------------------------------------------------------------------
# Grid inside test
# ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, num_vertices=st.integers(3, 30), simple=st.booleans())
def test_even_odd_grid_mask_matches_matplotlib(seed, num_vertices, simple):
    rng = np.random.default_rng(seed)
    size = 24
    if simple:
        ring = star_ring(rng, num_vertices, (11.5, 11.5), 14.0)
    else:  # self-intersecting: matplotlib also uses the even-odd rule
        ring = rng.uniform(-3, size + 3, (num_vertices, 2))
    edges = vertices_to_edges(torch.as_tensor(ring)[None])
    mask = even_odd_grid_mask(edges, size)[0]
    gy, gx = np.meshgrid(np.arange(size), np.arange(size), indexing='ij')
    points = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
    expected = MplPath(ring).contains_points(points).reshape(size, size)
    np.testing.assert_array_equal(mask.numpy(), expected)


def test_even_odd_grid_mask_ignores_invalid_and_non_finite_edges():
    ring = np.array([[2.2, 2.2], [9.7, 2.2], [9.7, 9.7], [2.2, 9.7]])
    edges, valid = pack_edges([[ring]])
    clean = even_odd_grid_mask(edges, 12, valid)
    garbage = torch.tensor([[[5.5, -9.0, 5.5, 99.0], [float('nan'), 0, 3, 7]]],
                           dtype=torch.float64)
    dirty = even_odd_grid_mask(
        torch.cat([edges, garbage], 1), 12,
        torch.cat([valid, torch.tensor([[False, True]])], 1))
    assert torch.equal(clean, dirty)
    assert clean.sum() == 7 * 7 and clean[3:10, 3:10].all()


def test_hard_rasterize_square_and_non_finite():
    square = torch.tensor([[[1.5, 1.5], [5.5, 1.5], [5.5, 4.5], [1.5, 4.5]]])
    bad = square.clone()
    bad[0, 2, 1] = float('nan')
    out = hard_rasterize(torch.cat([square, bad]), size=8)
    assert out.dtype == torch.float32 and out.shape == (2, 8, 8)
    expected = torch.zeros(8, 8)
    expected[2:5, 2:6] = 1
    assert torch.equal(out[0], expected)
    assert out[1].eq(0).all()
    assert hard_rasterize(torch.zeros(0, 5, 2), 4).shape == (0, 4, 4)


# ---------------------------------------------------------------------------
# Crop-frame targets
# ---------------------------------------------------------------------------
def random_objects(rng, num, image_size=(200, 300)):
    """Objects of 1-3 disjoint star-shaped parts inside the image, and boxes
    around them like the union of a predicted box with the GT box."""
    height, width = image_size
    objects, boxes = [], []
    for _ in range(num):
        rings = [
            star_ring(rng, int(rng.integers(5, 40)),
                      (50 + 100 * k + rng.uniform(-8, 8),
                       rng.uniform(50, height - 50)), rng.uniform(15, 40))
            for k in range(rng.integers(1, 4))
        ]
        pts = np.concatenate(rings)
        lo = pts.min(0) - rng.uniform(0, 20, 2)
        hi = pts.max(0) + rng.uniform(0, 20, 2)
        objects.append(rings)
        boxes.append([lo[0], lo[1], hi[0], hi[1]])
    return objects, torch.tensor(boxes, dtype=torch.float64)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_crop_masks_match_matplotlib_at_pixel_centres(seed):
    rng = np.random.default_rng(seed)
    objects, boxes = random_objects(rng, 6)
    edges, valid = pack_edges(objects, pad_value=7.0)  # padding is ignored
    masks = polygons_to_crop_masks(edges, valid, boxes, size=32)
    assert masks.shape == (6, 32, 32) and masks.dtype == torch.float64
    for n, rings in enumerate(objects):
        expected = xor_contains(rings, crop_centres(boxes[n].tolist(), 32))
        np.testing.assert_array_equal(masks[n].numpy().ravel() > 0.5, expected)
        assert expected.sum() > 20


def test_crop_masks_agree_with_roi_align_of_bitmaps():
    rng = np.random.default_rng(3)
    height, width = 200, 300
    objects, boxes = random_objects(rng, 8, (height, width))
    rles = polygons_to_rle([[r.ravel() for r in rings] for rings in objects],
                           height, width)
    reference = roi_align_reference(
        decode_rles(rles, height, width), boxes, 64)
    edges, valid = pack_edges(objects, dtype=torch.float32)
    masks = polygons_to_crop_masks(edges, valid, boxes.float(), size=64)
    for n in range(len(objects)):
        assert iou(masks[n], reference[n]) > 0.9
    assert (masks == reference).float().mean() > 0.97


def test_crop_masks_agree_with_roi_align_on_coco128():
    ann_file = COCO128_ROOT / 'annotations' / 'instances_val.json'
    if not ann_file.is_file():
        pytest.skip(f'coco128 not found ({COCO128_ROOT}, see conftest.py)')
    data = json.loads(ann_file.read_text())
    images = {img['id']: img for img in data['images']}
    anns = [
        a for a in data['annotations'] if isinstance(a['segmentation'], list)
        and not a['iscrowd'] and a['bbox'][2] > 40 and a['bbox'][3] > 40
    ][:25]
    assert anns, 'no usable polygon annotation in coco128_seg'
    ious = []
    for ann in anns:
        img = images[ann['image_id']]
        parts = [
            np.asarray(p, dtype=np.float64) for p in ann['segmentation']
            if len(p) >= 6
        ]
        rle = polygons_to_rle([parts], img['height'], img['width'])
        x, y, w, h = ann['bbox']
        box = torch.tensor([[x - 3.0, y - 5.0, x + w + 4.0, y + h + 2.0]])
        ref = roi_align_reference(
            decode_rles(rle, img['height'], img['width']), box, 64)
        edges, valid = pack_edges([[p.reshape(-1, 2) for p in parts]],
                                  dtype=torch.float32)
        ours = polygons_to_crop_masks(edges, valid, box, size=64)
        ious.append(iou(ours[0], ref[0]))
    # Overlapping parts follow even-odd here but union in the bitmap: allow
    # a rare outlier, not a systematic gap.
    assert np.median(ious) > 0.95 and np.mean(np.array(ious) > 0.9) > 0.9


@pytest.mark.parametrize('chunk_size', [1, 2, None])
def test_crop_masks_chunked_equals_unchunked(chunk_size):
    objects, boxes = random_objects(np.random.default_rng(4), 5)
    edges, valid = pack_edges(objects, dtype=torch.float32)
    full = polygons_to_crop_masks(edges, valid, boxes, size=16, chunk_size=5)
    part = polygons_to_crop_masks(edges, valid, boxes, 16, chunk_size)
    assert full.dtype == torch.float32 and torch.equal(full, part)


def test_crop_masks_edge_cases():
    empty = polygons_to_crop_masks(
        torch.zeros(0, 5, 4),
        torch.zeros(0, 5, dtype=torch.bool),
        torch.zeros(0, 4),
        size=8)
    assert empty.shape == (0, 8, 8)
    no_edges = polygons_to_crop_masks(
        torch.zeros(2, 0, 4),
        torch.zeros(2, 0, dtype=torch.bool),
        torch.zeros(2, 4),
        size=8)
    assert no_edges.shape == (2, 8, 8) and no_edges.eq(0).all()
    ring = SQUARE.reshape(-1, 2)
    edges, valid = pack_edges([[ring], [ring]], dtype=torch.float32)
    valid[1] = False  # an object without valid edges
    boxes = torch.tensor([[10.0, 10.0, 30.0, 30.0], [10.0, 10.0, 10.0, 10.0]])
    masks = polygons_to_crop_masks(edges, valid, boxes, size=8)
    assert masks[0].eq(1).all() and masks[1].eq(0).all()
    with pytest.raises(ValueError):
        polygons_to_crop_masks(edges, valid[:, :1], boxes)


# ---------------------------------------------------------------------------
# RLE encoding
# ---------------------------------------------------------------------------
def test_polygons_to_rle_square_and_empty_object():
    rles = polygons_to_rle([[SQUARE], []], height=40, width=50)
    assert [r['size'] for r in rles] == [[40, 50], [40, 50]]
    assert mask_utils.area(rles[0]) == 400
    assert mask_utils.area(rles[1]) == 0
    bitmap = decode_rles(rles, 40, 50)
    assert bitmap.shape == (2, 40, 50)
    assert bitmap[0, 10:30, 10:30].all() and bitmap[0].sum() == 400
    assert decode_rles([], 40, 50).shape == (0, 40, 50)


def test_polygons_to_rle_merges_parts_and_drops_bad_ones():
    other = SQUARE + np.array([15.0, 0.0] * 4)  # overlaps SQUARE by 5 x 20
    bad_parts = [
        np.array([1.0, 2.0, 3.0, 4.0]),  # fewer than 6 coordinates
        np.array([1.0, 2.0, 30.0, 2.0, 30.0, np.nan]),  # NaN
        np.array([1.0, 2.0, 30.0, 2.0, 30.0, 30.0, 4.0]),  # odd length
    ]
    rles = polygons_to_rle(
        [[SQUARE, other], bad_parts + [SQUARE] + bad_parts, bad_parts], 40, 60)
    union = decode_rles(
        polygons_to_rle([[SQUARE], [other]], 40, 60), 40, 60).max(0)
    np.testing.assert_array_equal(decode_rles(rles[:1], 40, 60)[0], union)
    assert mask_utils.area(rles[0]) == 400 + 400 - 100
    assert mask_utils.area(rles[1]) == 400
    assert mask_utils.area(rles[2]) == 0


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, num_vertices=st.integers(3, 40))
def test_rle_area_matches_polygon_area(seed, num_vertices):
    rng = np.random.default_rng(seed)
    ring = star_ring(rng, num_vertices, (60.0, 50.0), rng.uniform(5, 45))
    rle, = polygons_to_rle([[ring.ravel()]], 100, 120)
    poly = Polygon(ring)
    # Rasterisation error is a fraction of the boundary pixels.
    tol = 0.6 * poly.length + 4
    assert abs(float(mask_utils.area(rle)) - poly.area) < tol


def test_vertices_to_rle_keeps_sub_pixel_precision():
    # Columns 3..7 have centres j + 0.5 inside [2.6, 7.6]; truncating the
    # vertices to [2, 7] (official ``.int()``) would shift them to 2..6.
    rect = np.array([[[2.6, 1.2], [7.6, 1.2], [7.6, 4.4], [2.6, 4.4]]])
    rle, = vertices_to_rle(torch.as_tensor(rect, dtype=torch.float32), 10, 10)
    mask = decode_rles([rle], 10, 10)[0]
    cols = np.nonzero(mask.any(0))[0]
    rows = np.nonzero(mask.any(1))[0]
    assert cols.tolist() == [3, 4, 5, 6, 7]
    assert rows.tolist() == [1, 2, 3]
    truncated, = polygons_to_rle([[np.trunc(rect).ravel()]], 10, 10)
    shifted = decode_rles([truncated], 10, 10)[0]
    assert np.nonzero(shifted.any(0))[0].tolist() == [2, 3, 4, 5, 6]


def test_vertices_to_rle_edge_cases():
    tensor = torch.tensor([[[1.0, 1.0], [8.0, 1.0], [8.0, 8.0]],
                           [[1.0, float('nan')], [8.0, 1.0], [8.0, 8.0]],
                           [[-1e12, -1e12], [1e12, -1e12], [0.0, 1e12]]],
                          requires_grad=True)
    rles = vertices_to_rle(tensor, 12, 16)
    assert len(rles) == 3
    assert mask_utils.area(rles[0]) > 0
    assert mask_utils.area(rles[1]) == 0
    assert mask_utils.area(rles[2]) == 12 * 16  # clamped, still covers all
    assert vertices_to_rle(np.zeros((0, 36, 2)), 5, 5) == []
    with pytest.raises(ValueError):
        vertices_to_rle(np.zeros((3, 2)), 5, 5)
    with pytest.raises(ValueError):
        polygons_to_rle([[SQUARE]], 0, 5)
