"""tools/analysis_tools/benchmark_polarnext.py: helpers and a --quick run.

The --quick run uses tiny images, one thread and one timed round; it checks
that the three tables, the ratio and goal lines and the sanity checks are
printed with positive numbers (the timings themselves are meaningless).
"""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import load_tool

SCRIPT = 'tools/analysis_tools/benchmark_polarnext.py'
MODELS = ('PolarNeXt R-50 (masks off)', 'PolarNeXt R-50 (masks on)',
          'FCOS R-50 caffe (mmdet cfg)', 'FCOS R-50 pytorch-style',
          'SOLOv2 R-50')
NUMBER = r'(\d+(?:\.\d+)?)'


@pytest.fixture(scope='module')
def tool():
    return load_tool(SCRIPT)


@pytest.fixture(scope='module')
def quick_output(repo_root):
    proc = subprocess.run(
        [
            sys.executable, SCRIPT, '--quick', '--device', 'cpu',
            '--threads', '1', '--repeats', '1', '--warmup', '0'
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def _row(output: str, label: str) -> list:
    """Cells after ``label`` on the table row that starts with it."""
    for line in output.splitlines():
        if line.startswith(label + '  '):
            return line[len(label):].split()
    raise AssertionError(f'no row {label!r} in:\n{output}')


def test_header(quick_output):
    assert f'torch {torch.__version__}' in quick_output
    assert 'device cpu | threads 1' in quick_output
    assert 'inference size 160x256' in quick_output
    assert 'train size 128x160' in quick_output


def test_inference_table(quick_output):
    assert '[1] Inference per image at 160x256' in quick_output
    for model in MODELS:
        cells = _row(quick_output, model)
        forward, post, full = (float(c) for c in cells[:3])
        assert forward > 0 and post > 0 and full > 0, cells
        assert float(cells[5]) > 1, cells  # GMACs of an R-50 detector
        # The forced bias gives every model detections to post-process.
        assert int(cells[-1].split('/')[0]) > 0, cells
    ratios = re.findall(
        rf'ratio PolarNeXt .* / FCOS \S+: forward only {NUMBER}x, '
        rf'full predict {NUMBER}x', quick_output)
    assert len(ratios) == 4
    assert all(float(v) > 0 for pair in ratios for v in pair)
    assert re.search(r'goal PolarNeXt forward <= 1.05x FCOS: (NOT )?MET',
                     quick_output)
    # MACs are deterministic: PolarNeXt's head differs from FCOS's only in
    # its 36 ray channels, and its pytorch-style backbone costs a bit more.
    caffe, pytorch = (float(v) for v in re.search(
        rf'ratio PolarNeXt / FCOS GMACs: caffe {NUMBER}x, pytorch-style '
        rf'{NUMBER}x', quick_output).groups())
    assert 1.0 < pytorch < caffe < 1.1


def test_mask_generation_table(quick_output):
    assert '[2] Mask generation for CocoMetric: 100 polygons x 36' in \
        quick_output
    ours = float(_row(quick_output, 'ours: RLEMasks.from_polygons')[0])
    official = float(_row(quick_output, 'official: cv2 bitmaps + encode')[0])
    assert ours > 0 and official > 0
    speedup = float(
        re.search(rf'ratio official / ours: {NUMBER}x', quick_output)[1])
    assert speedup == pytest.approx(official / ours, rel=0.05)
    assert re.search(r'goal ours < 5 ms: (NOT )?MET', quick_output)
    assert re.search(r'goal ours >= 10x cheaper: (NOT )?MET', quick_output)
    iou = re.search(rf'mean {NUMBER}, median {NUMBER}, min {NUMBER}',
                    quick_output)
    # Same polygons, rasterised with and without int truncation.
    assert 0.7 < float(iou[1]) <= 1.0


def test_training_table(quick_output):
    assert '[3] PolarNeXt R-50 training step per image at 128x160' in \
        quick_output
    stages = ('backbone + neck forward', 'head forward',
              'target_builder.build', 'losses (_losses)',
              'backward (whole model)')
    for stage in stages:
        assert float(_row(quick_output, stage)[0]) > 0
    for step in ('candidates + ray targets: ray targets '
                 '(ray_coder.encode)', 'matcher: matcher.pair_costs',
                 'positives: soft raster of positives (grad)'):
        assert float(_row(quick_output, step)[0]) > 0
    positives = int(re.search(r'(\d+) positives', quick_output)[1])
    assert positives > 0
    assert 'check split gives the same positives as build(): yes' in \
        quick_output
    assert 'check replica equals head.loss(): yes' in quick_output
    assert float(
        re.search(rf'ratio build\(\) / head forward: {NUMBER}x',
                  quick_output)[1]) > 0


def test_parse_size(tool):
    import argparse
    assert tool.parse_size('800x1333') == (800, 1333)
    for bad in ('800', '8x8', 'axb'):
        with pytest.raises(argparse.ArgumentTypeError):
            tool.parse_size(bad)


def test_format_table(tool):
    table = tool.format_table(['name', 'ms'], [['a', '1.0'], ['bbb', '22']],
                              'title')
    lines = table.splitlines()
    assert lines[0] == 'title'
    assert lines[1] == lines[3] == lines[6] == '-' * 9
    assert lines[2] == 'name   ms'
    assert lines[4] == 'a     1.0'
    assert lines[5] == 'bbb    22'


def test_stage_timer_median(tool):
    timer = tool.StageTimer(torch.device('cpu'))
    timer.samples['x'] = [0.003, 0.001, 0.002]
    assert timer.ms('x') == pytest.approx(2.0)
    assert timer.spread('x') == pytest.approx((1.0, 3.0))
    assert timer.ms('missing') != timer.ms('missing')  # nan


def test_official_and_ours_agree_on_a_square(tool):
    """A 20 x 20 square with integer corners: cv2 fills the closed square
    (21 x 21 px), pycocotools the pixels whose centres are inside."""
    square = torch.tensor([[[10., 10.], [30., 10.], [30., 30.], [10., 30.]]])
    bitmaps = tool.official_bitmaps(square, 48, 64)
    assert bitmaps.dtype == torch.float32 and bitmaps.shape == (1, 48, 64)
    assert bitmaps.sum() == 21 * 21
    ours = tool.RLEMasks.from_polygons(square, 48, 64)
    assert ours.areas()[0] == pytest.approx(400, abs=21)
    agreement = tool.mask_agreement(ours, tool.to_coco_rle(bitmaps))
    assert agreement['mean'] == pytest.approx(400 / 441, abs=0.05)


def test_random_polygons_inside_image(tool):
    polygons = tool.random_polygons(50, 36, (100, 200),
                                    np.random.default_rng(0))
    assert polygons.shape == (50, 36, 2)
    assert polygons[..., 0].min() >= 0 and polygons[..., 0].max() <= 199
    assert polygons[..., 1].min() >= 0 and polygons[..., 1].max() <= 99


def test_synthetic_gt(tool):
    gt = tool.synthetic_gt(12, (120, 160), 80, np.random.default_rng(0))
    assert len(gt) == 12
    assert gt.labels.min() >= 0 and gt.labels.max() < 80
    boxes = gt.bboxes.numpy()
    assert (boxes[:, 2:] >= boxes[:, :2]).all()
    assert boxes[:, [0, 2]].max() <= 159 and boxes[:, [1, 3]].max() <= 119
    areas = gt.masks.areas
    assert (areas > 0).all()
    assert any(len(parts) == 2 for parts in gt.masks.masks)
