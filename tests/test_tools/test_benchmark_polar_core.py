"""tools/analysis_tools/benchmark_polar_core.py through the measurements
its ``main`` returns (a --quick run: tiny sizes, one timed round)."""
import numpy as np
import pytest
import torch

from conftest import load_tool

bench = load_tool('tools/analysis_tools/benchmark_polar_core.py')


@pytest.fixture(scope='module')
def quick():
    lines = []
    results = bench.main(['--quick', '--repeats', '1', '--device', 'cpu'],
                         lines.append)
    return results, '\n'.join(lines)


def _rows(results, section):
    return {row.name: row for row in results[section]}


def test_ray_target_rows(quick):
    rows = _rows(quick[0], 'rays')
    assert set(rows) == {
        'official loop (reference)', 'polar_ray_targets (ours)',
        'polar_ray_targets, edge_tol=0'
    }
    for row in rows.values():
        assert row.ms > 0 and len(row.times) == 1 and row.scale == 1
    cells = rows['polar_ray_targets (ours)'].check.split()
    off, total = int(cells[0]), int(cells[2])
    assert total == 6 * 45 * 36 and off <= total // 100
    # The official rule (edge_tol=0) is the official loop's: no ray differs
    # from its float64 lengths by more than rounding.
    assert rows['polar_ray_targets, edge_tol=0'].check.startswith('0 / ')


def test_soft_raster_rows_agree_with_the_references(quick):
    rows = _rows(quick[0], 'raster')
    sizes = bench.QUICK_SIZES
    dense = rows['dense autograd reference']
    naive = rows['naive per-pixel reference']
    assert dense.scale == sizes.num_polygons / sizes.dense_subset
    assert naive.scale == sizes.num_polygons / sizes.naive_subset
    assert len(naive.times) == 1  # a Python loop: timed once
    for row in (dense, naive):
        assert row.note.startswith('extrapolated x')
        # Same masks and gradients as ours, up to float32 rounding.
        assert float(row.check.split()[0]) < 1e-3
    # The naive per-pixel loop is far slower than ours at any size.
    assert naive.ms > 10 * rows['soft_rasterize (ours)'].ms


def test_mask_generation_rows(quick):
    ours, official = quick[0]['masks']
    assert ours.name == 'RLEMasks.from_polygons (ours)'
    # Same polygons, rasterised with and without int truncation.
    assert 0.7 < float(official.check.split()[0]) <= 1.0
    assert ours.ms > 0 and official.ms > 0


def test_goals_and_printed_tables(quick):
    results, printed = quick
    assert len(results['goals']) == 3
    ray_goal = next(k for k in results['goals'] if k.startswith('ray'))
    official, ours = results['rays'][:2]
    assert results['goals'][ray_goal] == (official.ms >= 5 * ours.ms)
    assert printed.count('| case ') == 3


def test_skip_leaves_sections_out():
    results = bench.main(['--quick', '--repeats', '1', '--skip', 'rays',
                          '--skip', 'raster'], lambda line: None)
    assert set(results) == {'masks', 'goals'}


def test_candidate_points_are_official_like():
    sizes = bench.QUICK_SIZES
    points, edges, edge_valid, obj_inds = bench.ray_target_inputs(
        sizes, torch.device('cpu'))
    assert points.shape == (sizes.num_objects * 45, 2)
    assert obj_inds.tolist() == sorted(obj_inds.tolist())
    assert edges.shape[1] == sizes.num_vertices and edge_valid.all()
    # Clipped into each object's box.
    starts = edges[..., :2]
    low = starts.amin(dim=1)[obj_inds]
    high = starts.amax(dim=1)[obj_inds]
    assert ((points >= low) & (points <= high)).all()


def test_official_and_ours_agree_on_a_square():
    """A 20 x 20 square with integer corners: cv2 fills the closed square
    (21 x 21 px), pycocotools the pixels whose centres are inside."""
    square = torch.tensor([[[10., 10.], [30., 10.], [30., 30.], [10., 30.]]])
    bitmaps = bench.official_bitmaps(square, 48, 64)
    assert bitmaps.dtype == torch.float32 and bitmaps.shape == (1, 48, 64)
    assert bitmaps.sum() == 21 * 21
    ours = bench.RLEMasks.from_polygons(square, 48, 64)
    assert ours.areas()[0] == pytest.approx(400, abs=21)
    official = bench.encode_mask_results(bitmaps.numpy())
    iou = bench.mask_iou([dict(m) for m in ours], official)
    assert iou == pytest.approx(np.array([400 / 441]), abs=0.05)
