"""Tests of ``tools/analysis_tools/benchmark_polar_core.py``."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'analysis_tools' / 'benchmark_polar_core.py'


def _load_tool():
    spec = importlib.util.spec_from_file_location('benchmark_polar_core',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_tool()


def _table_rows(text: str, title: str) -> dict:
    """Rows of the table printed under the line starting with ``title``,
    as {case: [cells]} (cells split on runs of 2+ spaces)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    headers = re.split(r'\s{2,}', lines[start + 1].strip())
    rows = {}
    for line in lines[start + 3:]:
        cells = re.split(r'\s{2,}', line.strip())
        if len(cells) != len(headers):
            break
        rows[cells[0]] = dict(zip(headers, cells))
    return rows


@pytest.fixture(scope='module')
def quick_output():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, str(TOOL), '--quick', '--repeats', '1'],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_header_names_versions_device_and_threads(quick_output):
    first = quick_output.splitlines()[0]
    assert f'torch {torch.__version__}' in first
    assert 'device cpu' in first and 'threads 1' in first


def test_ray_target_table(quick_output):
    rows = _table_rows(quick_output, 'Ray targets:')
    assert set(rows) == {
        'official loop (reference)', 'polar_ray_targets',
        'polar_ray_targets, edge_tol=0'
    }
    ours = rows['polar_ray_targets']
    assert ours['time / ours'] == '1.0x' and ours['mem / ours'] == '1.0x'
    reference = rows['official loop (reference)']
    assert re.fullmatch(r'\d+\.\dx', reference['time / ours'])
    assert float(reference['median ms']) > 0
    off, total = map(int, ours['rays off'].split(' / '))
    assert total == 6 * 45 * 36 and off <= total // 100
    assert 'faster than the official loop' in quick_output


def test_soft_raster_table(quick_output):
    rows = _table_rows(quick_output, 'Soft rasteriser')
    assert set(rows) == {
        'soft_rasterize (ours)', 'dense autograd reference',
        'naive per-pixel reference'
    }
    for name in ('dense autograd reference', 'naive per-pixel reference'):
        assert rows[name]['note'].startswith('extrapolated x')
        assert re.fullmatch(r'\d+\.\dx', rows[name]['time / ours'])
        # Same masks and gradients as ours, up to float32 rounding.
        assert float(rows[name]['max |diff|']) < 1e-3


def test_cpu_peak_memory_sees_a_known_allocation():
    size = 48 * 2**20

    def allocate():
        return torch.ones(size // 4).sum()

    peak = bench.peak_memory(allocate, torch.device('cpu'))
    if peak is None:
        pytest.skip('peak RSS is not measurable on this platform')
    assert 0.9 * size < peak < 1.3 * size
    assert bench.peak_memory(lambda: None, torch.device('cpu')) < 4 * 2**20


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


def test_format_table_aligns_columns():
    text = bench.format_table(['case', 'ms'], [['a', '1.0'], ['bbb', '10']])
    lines = text.splitlines()
    assert lines[0] == 'case   ms' and set(lines[1]) == {'-'}
    assert lines[2] == 'a     1.0' and lines[3] == 'bbb    10'
