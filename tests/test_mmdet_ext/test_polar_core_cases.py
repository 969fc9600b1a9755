"""Tests of :mod:`mmdet_ext.testing.polar_core_cases`: the inputs of the
polar-core benchmark and the agreement checks of its case sets (the timed
tool is tested in ``tests/test_tools/test_benchmark_polar_core.py``)."""
import numpy as np
import pytest
import torch

from mmdet.structures.mask import encode_mask_results
from mmdet_ext.structures.rle_masks import RLEMasks, paired_mask_ious
from mmdet_ext.testing.polar_core_cases import (
    POINTS_PER_OBJECT, QUICK_SIZES, candidate_points, count_off_rays,
    mask_generation_cases, official_bitmaps, ray_target_cases,
    ray_target_inputs, soft_raster_cases)

CPU = torch.device('cpu')


def test_candidate_points_are_the_official_lattice():
    centroid = torch.tensor([[100.3, 50.7]])
    # Per stride s: the centre of the cell holding the centroid, then its
    # 8 neighbours s apart, row by row.
    expected = []
    for stride in (8, 16, 32, 64, 128):
        cx = (100.3 // stride) * stride + stride / 2
        cy = (50.7 // stride) * stride + stride / 2
        expected += [(cx + dx * stride, cy + dy * stride)
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    wide_box = torch.tensor([[-1000., -1000., 1000., 1000.]])
    points = candidate_points(centroid, wide_box)
    assert POINTS_PER_OBJECT == 45
    assert torch.equal(points, torch.tensor(expected))
    # A tight box clips the points into it: stride 8's centre (100, 52)
    # stays, stride 128's (64, 64) moves to the box's corner.
    box = torch.tensor([[90., 40., 110., 60.]])
    clipped = candidate_points(centroid, box)
    assert ((clipped >= box[:, :2]) & (clipped <= box[:, 2:])).all()
    assert clipped[4].tolist() == [100., 52.]
    assert clipped[4 * 9 + 4].tolist() == [90., 60.]


def test_ray_target_inputs_are_grouped_by_object():
    sizes = QUICK_SIZES
    points, edges, edge_valid, obj_inds = ray_target_inputs(sizes, CPU)
    assert points.shape == (sizes.num_objects * 45, 2)
    assert obj_inds.tolist() == sorted(obj_inds.tolist())
    assert edges.shape[1] == sizes.num_vertices and edge_valid.all()
    # Clipped into each object's box.
    starts = edges[..., :2]
    low = starts.amin(dim=1)[obj_inds]
    high = starts.amax(dim=1)[obj_inds]
    assert ((points >= low) & (points <= high)).all()


def test_off_rays_are_relative_above_length_one():
    truth = torch.tensor([[0.5, 2.0, 100.0, 100.0]], dtype=torch.float64)
    # 5e-4 absolute at 0.5 and 0.05 % at 100 are within tolerance; 0.2 %
    # at 100 is not.
    lengths = torch.tensor([[0.5005, 2.0, 100.05, 100.2]])
    assert count_off_rays(lengths, truth) == '1 / 4 rays off'
    assert count_off_rays(truth.float(), truth) == '0 / 4 rays off'


def test_ray_target_check_flags_wrong_lengths():
    case_set = ray_target_cases(QUICK_SIZES, CPU)
    outputs = {name: fn() for name, fn in case_set.cases.items()}
    total = QUICK_SIZES.num_objects * 45 * QUICK_SIZES.num_rays
    assert case_set.check(outputs)['polar_ray_targets, edge_tol=0'] == \
        f'0 / {total} rays off'
    # 1 % plus 0.01 longer than the official rays (short rays, e.g. from
    # points clipped to a corner, have an absolute tolerance): all off.
    outputs['polar_ray_targets (ours)'] = 1.01 * outputs[
        'polar_ray_targets, edge_tol=0'] + 0.01
    assert case_set.check(outputs)['polar_ray_targets (ours)'] == \
        f'{total} / {total} rays off'


def test_soft_raster_references_run_on_extrapolated_subsets():
    sizes = QUICK_SIZES
    case_set = soft_raster_cases(sizes, CPU)
    dense, naive = 'dense autograd reference', 'naive per-pixel reference'
    assert list(case_set.cases) == ['soft_rasterize (ours)', dense, naive]
    assert case_set.scales == {
        dense: sizes.num_polygons / sizes.dense_subset,
        naive: sizes.num_polygons / sizes.naive_subset
    }
    assert case_set.notes[naive] == 'extrapolated x48 from 1'
    assert case_set.single_run == {naive}
    # The check compares the reference's polygons with ours' first ones.
    masks, grads = torch.rand(48, 16, 16), torch.rand(48, 12, 2)
    outputs = {
        'soft_rasterize (ours)': (masks, grads),
        dense: (masks[:8], grads[:8]),
        naive: (masks[:1], grads[:1] + 0.25),
    }
    assert case_set.check(outputs) == {
        dense: '0 max |diff|',
        naive: '0.25 max |diff|'
    }


def test_official_and_ours_agree_on_a_square():
    """A 20 x 20 square with integer corners: cv2 fills the closed square
    (21 x 21 px), pycocotools the pixels whose centres are inside."""
    square = torch.tensor([[[10., 10.], [30., 10.], [30., 30.], [10., 30.]]])
    bitmaps = official_bitmaps(square, 48, 64)
    assert bitmaps.dtype == torch.float32 and bitmaps.shape == (1, 48, 64)
    assert bitmaps.sum() == 21 * 21
    ours = RLEMasks.from_polygons(square, 48, 64)
    assert ours.areas()[0] == pytest.approx(400, abs=21)
    official = encode_mask_results(bitmaps.numpy())
    iou = paired_mask_ious([dict(m) for m in ours], official)
    assert iou == pytest.approx(np.array([400 / 441]), abs=0.05)


def test_mask_check_is_the_mean_iou():
    case_set = mask_generation_cases(QUICK_SIZES)
    ours = 'RLEMasks.from_polygons (ours)'
    official = 'official: cv2 bitmaps + encode_mask_results'
    masks = case_set.cases[ours]()
    assert len(masks) == QUICK_SIZES.num_masks
    assert case_set.check({ours: masks, official: masks}) == {
        official: '1.000 mean IoU'
    }
    # Every mask against the next one: far from identical.
    shifted = masks[1:] + masks[:1]
    mean_iou = float(case_set.check({ours: masks, official: shifted})
                     [official].split()[0])
    assert mean_iou < 0.5
