"""tools/analysis_tools/benchmark_polar_core.py through the measurements
its ``main`` returns (a --quick run: tiny sizes, one timed round). The
cases and their checks are tested in
``tests/test_mmdet_ext/test_polar_core_cases.py``."""
import pytest

from conftest import load_tool

from mmdet_ext.testing.polar_core_cases import QUICK_SIZES

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
    sizes = QUICK_SIZES
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
