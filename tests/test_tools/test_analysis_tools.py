"""benchmark.py (CPU, polar and mask models), browse_dataset.py (GT with
polar targets) and analyze_logs.py (curves of a real training log, ETA)."""
import argparse
import json
import logging
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from torch import nn

from conftest import REPO_ROOT, load_tool
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet_ext.utils.benchmark import (has_mask_output, mask_mode_name,
                                       mask_output)

CONFIG = 'projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py'
SOLOV2 = 'configs/solov2/solov2_r18_fpn_toy-cpu.py'


def _run(args, repo_root, timeout=600):
    proc = subprocess.run(
        args, cwd=repo_root, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    return output


def _loader_options(toy_root, split='test'):
    return [
        f'data_root={toy_root}/', f'{split}_dataloader.num_workers=0',
        f'{split}_dataloader.persistent_workers=False'
    ]


@pytest.fixture(scope='module')
def benchmark_tool():
    return load_tool('tools/analysis_tools/benchmark.py')


def _benchmark(tool, toy_root, config, *extra):
    """Results of ``benchmark.py --task inference`` on 4 toy images, and
    the messages it logged."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = MMLogger.get_instance('mmdet')
    logger.addHandler(handler)
    try:
        results = tool.main([
            str(REPO_ROOT / config), '--task', 'inference', '--max-iter', '4',
            '--num-warmup', '1', '--log-interval', '2', '--num-threads', '1',
            *extra, '--cfg-options', *_loader_options(toy_root)
        ])
    finally:
        logger.removeHandler(handler)
    return results, '\n'.join(messages)


def test_inference_benchmark_polar_with_and_without_masks(
        benchmark_tool, toy_root):
    results, log = _benchmark(benchmark_tool, toy_root, CONFIG)
    fps = results['avg_fps_by_mode']
    assert set(fps) == {False, True} and min(fps.values()) > 0
    assert results['avg_fps'] == fps[True] and results['device'] == 'cpu'
    assert 'no --checkpoint' in log
    assert re.search(r'mask generation costs -?[0-9.]+ ms/img', log)
    only, _ = _benchmark(benchmark_tool, toy_root, CONFIG, '--mask-output',
                         'off')
    assert set(only['avg_fps_by_mode']) == {False}


def test_inference_benchmark_mask_model(benchmark_tool, toy_root):
    results, log = _benchmark(benchmark_tool, toy_root, SOLOV2)
    assert set(results['avg_fps_by_mode']) == {None}
    assert results['avg_fps'] > 0
    assert 'mask generation' not in log


def test_mask_modes_need_a_polar_head():
    head = nn.Linear(1, 1)
    head.test_cfg = dict(mask_output=True, score_thr=0.1)
    model = nn.Sequential(head)
    assert has_mask_output(model)
    assert not has_mask_output(nn.Sequential(nn.Linear(1, 1)))
    with mask_output(model, False):
        assert head.test_cfg['mask_output'] is False
    assert head.test_cfg == dict(mask_output=True, score_thr=0.1)
    with mask_output(model, None):
        assert head.test_cfg['mask_output'] is True
    assert mask_mode_name(False) == 'without mask generation'


def _browse(repo_root, toy_root, out_dir, *extra):
    _run([
        sys.executable, 'tools/analysis_tools/browse_dataset.py', CONFIG,
        '--output-dir',
        str(out_dir), '--not-show', '--max-images', '3', *extra,
        '--cfg-options', *_loader_options(toy_root, 'train')
    ], repo_root)
    return sorted(out_dir.glob('*.png'))


def test_browse_dataset_draws_polar_targets(repo_root, toy_root, tmp_path):
    plain = _browse(repo_root, toy_root, tmp_path / 'plain', '--no-rays')
    polar = _browse(repo_root, toy_root, tmp_path / 'polar', '--num-rays',
                    '72', '--ray-origin', 'inside')
    assert [p.name for p in plain] == [p.name for p in polar]
    assert len(polar) == 3
    for plain_png, polar_png in zip(plain, polar):
        base, drawn = cv2.imread(str(plain_png)), cv2.imread(str(polar_png))
        # drawn after the pipeline: resized to fit 320 x 256 (keep ratio)
        height, width = drawn.shape[:2]
        assert drawn.shape == base.shape and height <= 256 and width <= 320
        assert height == 256 or width == 320
        changed = np.abs(drawn.astype(int) - base).sum(-1) > 30
        # outlines, rays and origins of every object
        assert changed.mean() > 0.005, (polar_png, changed.mean())


def test_polar_settings_from_config_and_command_line():
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    args = argparse.Namespace(
        num_rays=None, center=None, mode=None, parts=None)
    cfg = Config(
        dict(
            model=dict(
                bbox_head=dict(
                    num_rays=24,
                    target_builder=dict(
                        ray_origin='inside',
                        ray_target_parts='all',
                        ray_coder=dict(mode='nearest'))))))
    assert tool.polar_settings(cfg, args) == dict(
        num_rays=24, center='inside', mode='nearest', parts='all')
    args.num_rays, args.mode = 12, 'farthest'
    assert tool.polar_settings(cfg, args)['num_rays'] == 12
    assert tool.polar_settings(cfg, args)['mode'] == 'farthest'
    # no polar head: PolarNeXt's official defaults
    plain = argparse.Namespace(num_rays=None, center=None, mode=None,
                               parts=None)
    assert tool.polar_settings(Config(dict(model=dict(
        mask_head=dict(type='SOLOV2Head')))), plain) == dict(
            num_rays=36, center='centroid', mode='farthest', parts='largest')
    # a head that leaves the origin unset gets the official one
    partial = Config(dict(model=dict(bbox_head=dict(num_rays=18))))
    assert tool.polar_settings(partial, plain) == dict(
        num_rays=18, center='centroid', mode='farthest', parts='largest')


def test_polar_targets_of_gt():
    """Ray ends lie on the GT outline (36 rays from inside a square)."""
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    square = [np.array([10., 10., 50., 10., 50., 50., 10., 50.])]
    gt = InstanceData(
        labels=torch.tensor([0, 1]),
        masks=PolygonMasks([square, [np.array([0., 0., 1., 1.])]], 60, 60))
    tool.add_polar_targets(gt, dict(tool.DEFAULT_SETTINGS))
    assert gt.origins[0].tolist() == pytest.approx([30., 30.])
    ends = gt.ray_ends[0]
    assert ends.shape == (36, 2)
    # every end on the square's border
    border = torch.minimum((ends - 10).abs().min(-1).values,
                           (ends - 50).abs().min(-1).values)
    assert border.max() < 1e-3
    # the degenerate object has no part: nothing to draw
    assert torch.isnan(gt.origins[1]).all() and gt.polygons[1] == []


def test_polar_targets_of_bitmap_gt():
    """Bitmaps (poly2mask=True pipelines) are traced along their pixel
    corners, as the oracle traces RLEs: the outline is the bitmap's."""
    tool = load_tool('tools/analysis_tools/browse_dataset.py')
    bitmaps = np.zeros((2, 60, 60), np.uint8)
    bitmaps[0, 10:50, 10:50] = 1  # pixels 10..49: outline at 10 and 50
    gt = InstanceData(
        labels=torch.tensor([0, 1]), masks=BitmapMasks(bitmaps, 60, 60))
    tool.add_polar_targets(gt, dict(tool.DEFAULT_SETTINGS))
    assert gt.polygons[0][0].reshape(-1, 2).tolist() == [[10, 10], [10, 50],
                                                         [50, 50], [50, 10]]
    assert gt.origins[0].tolist() == pytest.approx([30., 30.])
    ends = gt.ray_ends[0]
    border = torch.minimum((ends - 10).abs().min(-1).values,
                           (ends - 50).abs().min(-1).values)
    assert border.max() < 1e-3
    # an empty bitmap has no part: nothing to draw
    assert torch.isnan(gt.origins[1]).all() and gt.polygons[1] == []


@pytest.fixture(scope='module')
def train_run(repo_root, toy_root, tmp_path_factory):
    """Two epochs of the tiny PolarNeXt on 4 toy images, validated after
    each epoch."""
    work_dir = tmp_path_factory.mktemp('curves')
    output = _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', f'data_root={toy_root}/',
        'train_cfg.max_epochs=2', 'train_cfg.val_interval=1',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.indices=4',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'val_dataloader.dataset.indices=2', 'default_hooks.logger.interval=1',
        # A barely trained model may score nothing above 0.05; without any
        # detection CocoMetric logs no mAP, which the curve test needs.
        'model.test_cfg.score_thr=0.0'
    ], repo_root)
    return work_dir, output


def test_training_prints_progress_with_eta(train_run):
    _, output = train_run
    lines = [line for line in output.splitlines() if 'Epoch(train)' in line]
    assert len(lines) == 4, output[-2000:]  # 2 epochs x 2 iterations
    assert all(re.search(r'eta: \d+:\d\d:\d\d', line) for line in lines)
    assert re.search(r'Epoch\(train\)\s+\[2\]\[2/2\]', lines[-1])


def test_analyze_logs_plots_loss_and_map(repo_root, train_run, tmp_path):
    work_dir, _ = train_run
    out = tmp_path / 'curve.png'
    output = _run([
        sys.executable, 'tools/analysis_tools/analyze_logs.py', 'plot_curve',
        str(work_dir), '--out',
        str(out)
    ], repo_root)
    assert 'saved curve' in output
    image = cv2.imread(str(out))
    # two panels side by side: loss against iterations, mAP against epochs
    assert image.shape[1] > 1.8 * image.shape[0] > 800
    coloured = (image.max(-1).astype(int) - image.min(-1)) > 60
    assert coloured[:, :image.shape[1] // 2].sum() > 100  # loss curve
    assert coloured[:, image.shape[1] // 2:].sum() > 100  # mAP points


def test_analyze_logs_on_a_json_log(repo_root, tmp_path):
    log = tmp_path / 'scalars.json'
    lines = [{'lr': 0.01, 'loss': 2.0 - i * 0.1, 'time': 0.5, 'step': i}
             for i in range(1, 6)]
    lines.append({'coco/segm_mAP': 0.25, 'step': 1})
    log.write_text('\n'.join(json.dumps(x) for x in lines))
    out = tmp_path / 'curve.png'
    _run([
        sys.executable, 'tools/analysis_tools/analyze_logs.py', 'plot_curve',
        str(log), '--keys', 'loss', '--out',
        str(out)
    ], repo_root)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] < 1.8 * image.shape[0]
    output = _run([
        sys.executable, 'tools/analysis_tools/analyze_logs.py',
        'cal_train_time',
        str(log)
    ], repo_root)
    assert 'average iter time: 0.5000 s/iter' in output
    bad = subprocess.run([
        sys.executable, 'tools/analysis_tools/analyze_logs.py', 'plot_curve',
        str(log), '--keys', 'nope'
    ],
                         cwd=repo_root,
                         capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "no key 'nope'" in bad.stderr
    tool = load_tool('tools/analysis_tools/analyze_logs.py')
    assert tool.default_keys(tool.load_json_log(str(log))) == [
        'loss', 'coco/segm_mAP'
    ]
