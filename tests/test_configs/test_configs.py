"""Every config parses, inherits the MMDetection way and builds its model."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT
from mmdet.registry import MODELS

CONFIGS = sorted(
    str(p.relative_to(REPO_ROOT))
    for pattern in ('configs/*/*.py', 'projects/*/configs/*.py',
                    'projects/*/configs/*/*.py')
    for p in REPO_ROOT.glob(pattern) if '_base_' not in p.parts)
TINY = [c for c in CONFIGS if 'cpu' in Path(c).stem]


def _load(path):
    cfg = Config.fromfile(str(REPO_ROOT / path))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    for name in cfg.get('custom_imports', {}).get('imports', []):
        __import__(name)
    return cfg


def _without_pretrained(model_cfg):
    model_cfg.backbone.init_cfg = None
    return model_cfg


def test_configs_found():
    assert len(CONFIGS) >= 12
    assert any('polarnext_r50-torch_fpn_1x_coco' in c for c in CONFIGS)


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds(path):
    cfg = _load(path)
    model = MODELS.build(_without_pretrained(cfg.model))
    assert sum(p.numel() for p in model.parameters()) > 0
    text = (REPO_ROOT / path).read_text()
    assert not re.search(r"['\"](/|[A-Z]:\\\\)", text), 'absolute path'


@pytest.mark.parametrize('path', [c for c in CONFIGS if c.endswith('coco.py')])
def test_coco_configs_use_relative_data_root(path):
    cfg = _load(path)
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.val_evaluator.ann_file.startswith('data/coco/')


@pytest.mark.parametrize('path', TINY)
def test_tiny_configs_run_a_train_step(path, toy_root):
    """One forward/backward of each CPU config on a real toy batch."""
    from mmengine.runner import Runner
    cfg = _load(path)
    if 'toy' not in path:
        pytest.skip('not a toy config')
    cfg.work_dir = str(toy_root / 'unused')
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[split].dataset.data_root = f'{toy_root}/'
        cfg[split].num_workers = 0
        cfg[split].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    loader = Runner.build_dataloader(cfg.train_dataloader)
    model = MODELS.build(cfg.model)
    model.train()
    data = model.data_preprocessor(next(iter(loader)), True)
    losses = model(**data, mode='loss')
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    assert torch.isfinite(total)
    total.backward()


def test_polarnext_official_hyper_parameters():
    cfg = _load('projects/PolarNeXt/configs/polarnext_r50-torch_fpn_1x_coco.py')
    head = cfg.model.bbox_head
    assert head.num_rays == 36 and head.strides == [8, 16, 32, 64, 128]
    assert head.target_builder.matcher.num_sample == 9
    assert head.target_builder.sampling_radius == 1.5
    assert head.target_builder.mask_size == 64
    assert head.target_builder.tau == 0.1
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.optim_wrapper.clip_grad.max_norm == 35
    assert cfg.param_scheduler[0].start_factor == 0.1
    assert cfg.param_scheduler[1].milestones == [8, 11]
    assert cfg.train_dataloader.batch_size == 4
    ms = _load(
        'projects/PolarNeXt/configs/polarnext_r50-torch_fpn_3x_ms_coco.py')
    assert ms.train_cfg.max_epochs == 36
    assert ms.param_scheduler[1].milestones == [27, 33]
    resize = ms.train_dataloader.dataset.pipeline[2]
    assert resize.type == 'RandomResize'
    assert resize.scale == [(1333, 640), (1333, 800)]
    r101 = _load(
        'projects/PolarNeXt/configs/polarnext_r101-torch_fpn_3x_ms_coco.py')
    assert r101.model.backbone.depth == 101


def test_polarmask_official_hyper_parameters():
    cfg = _load('projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py')
    head = cfg.model.bbox_head
    assert head.num_rays == 36 and head.with_box_branch
    assert head.regress_ranges[0] == (-1, 64)
    assert head.regress_ranges[4][0] == 512
    assert head.target_builder.sampling_radius == 1.5
    assert head.target_builder.matcher.type == 'MinAreaMatcher'
    assert cfg.model.test_cfg.quality_offset == 0.5
    assert cfg.model.test_cfg.nms.iou_threshold == 0.5
    assert cfg.model.backbone.style == 'caffe'
    resize = cfg.train_dataloader.dataset.pipeline[2]
    assert resize.scale == (1280, 768) and resize.keep_ratio is False
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.param_scheduler[0].start_factor == pytest.approx(1 / 3)
    assert cfg.param_scheduler[0].end == 500
    assert cfg.param_scheduler[1].milestones == [8, 11]
    ms = _load('projects/PolarMask/configs/'
               'polarmask_r50_fpn_ms-640-800_2x_coco.py')
    resize = ms.train_dataloader.dataset.pipeline[2]
    assert resize.scale == [(1333, 640), (1333, 800)]
    assert ms.train_cfg.max_epochs == 26


def test_polarmask_ladder_switches_one_piece_per_rung():
    """Each rung changes only the piece it names (plus its own options)."""
    root = 'projects/PolarMask/configs/'
    rungs = [root + 'polarmask_r50_fpn_1x_coco.py'] + sorted(
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / root / 'ablations').glob('*ladder*.py'))
    heads = [_load(path).model.bbox_head for path in rungs]
    assert len(heads) == 4
    assert heads[1].target_builder.matcher.type == 'TopCostMatcher'
    assert heads[1].target_builder.regress_ranges is None
    assert 'loss_dice' not in heads[1] and 'loss_dice' in heads[2]
    assert heads[2].quality_target == 'centerness'
    assert heads[3].quality_target == 'mask_iou'
    for before, after in zip(heads, heads[1:]):
        changed = {k for k in set(before) | set(after)
                   if before.get(k) != after.get(k)}
        assert len(changed) <= 2, changed
