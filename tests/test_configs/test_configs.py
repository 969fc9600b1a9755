"""Every config parses, inherits the MMDetection way and builds its model."""
import copy
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
    assert type(model).__name__ == cfg.model.type.split('.')[-1]
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


# Official values of the paper-named configs (design notes: PolarNeXt
# `polarnext-official-design.md` §3, §5, §7.2; PolarMask `peers.md` A.1-A.5).
# Keys are dotted paths into the resolved config; a key starting with
# 'head:' reads the attribute of the built head (defaults set in code).
POLARNEXT_1X = {
    'model.backbone.depth': 50,
    'model.backbone.style': 'pytorch',
    'model.backbone.frozen_stages': 1,
    'model.backbone.norm_eval': True,
    'model.backbone.init_cfg.checkpoint': 'torchvision://resnet50',
    'model.neck.out_channels': 256,
    'model.neck.start_level': 1,
    'model.neck.add_extra_convs': 'on_output',
    'model.neck.relu_before_extra_convs': True,
    'model.neck.num_outs': 5,
    'model.bbox_head.feat_channels': 256,
    'model.bbox_head.stacked_convs': 4,
    'model.bbox_head.strides': [8, 16, 32, 64, 128],
    'model.bbox_head.num_rays': 36,
    'model.bbox_head.ray_min': 0.01,
    'model.bbox_head.norm_cfg.num_groups': 32,
    'head:ray_activation': 'linear',
    'head:loss_weighting': 'iou',
    'head:cls_target': 'label',
    'model.bbox_head.target_builder.sampling_radius': 1.5,
    'model.bbox_head.target_builder.mask_size': 64,
    'model.bbox_head.target_builder.tau': 0.1,
    'model.bbox_head.target_builder.ray_origin': 'int_centroid',
    'model.bbox_head.target_builder.ray_target_parts': 'largest',
    'model.bbox_head.target_builder.mask_target_parts': 'largest',
    'model.bbox_head.target_builder.fallback_candidate': False,
    'model.bbox_head.target_builder.ray_coder.mode': 'farthest',
    'model.bbox_head.target_builder.ray_coder.miss_value': 0.01,
    'model.bbox_head.target_builder.matcher.type': 'TopCostMatcher',
    'model.bbox_head.target_builder.matcher.num_sample': 9,
    'head:target_builder.regress_ranges': None,
    'head:target_builder.cost_mask': 'soft',
    'head:target_builder.matcher.cls_weight': 1.0,
    'head:target_builder.matcher.polar_weight': 1.0,
    'head:target_builder.matcher.dice_weight': 1.0,
    'model.bbox_head.loss_cls.gamma': 2.0,
    'model.bbox_head.loss_cls.alpha': 0.25,
    'model.bbox_head.loss_dice.eps': 1.0,
    'model.bbox_head.loss_dice.naive_dice': True,
    'model.test_cfg.nms_pre': 1000,
    'model.test_cfg.score_thr': 0.05,
    'model.test_cfg.nms.iou_threshold': 0.5,
    'model.test_cfg.max_per_img': 100,
    'optim_wrapper.optimizer.type': 'SGD',
    'optim_wrapper.optimizer.lr': 0.01,
    'optim_wrapper.optimizer.momentum': 0.9,
    'optim_wrapper.optimizer.weight_decay': 0.0001,
    'optim_wrapper.paramwise_cfg.bias_lr_mult': 2.0,
    'optim_wrapper.paramwise_cfg.bias_decay_mult': 0.0,
    'optim_wrapper.clip_grad.max_norm': 35,
    'param_scheduler.0.start_factor': 0.1,
    'param_scheduler.0.end': 500,
    'param_scheduler.1.milestones': [8, 11],
    'train_cfg.max_epochs': 12,
    'auto_scale_lr.base_batch_size': 16,
    'train_dataloader.batch_size': 4,
    'train_dataloader.dataset.pipeline.2.scale': (1333, 800),
    'train_dataloader.dataset.pipeline.3.prob': 0.5,
    'test_dataloader.dataset.pipeline.1.scale': (1333, 800),
}
POLARNEXT_3X_MS = dict(
    POLARNEXT_1X, **{
        'train_cfg.max_epochs': 36,
        'param_scheduler.1.milestones': [27, 33],
        'train_dataloader.dataset.pipeline.2.type': 'RandomResize',
        'train_dataloader.dataset.pipeline.2.scale': [(1333, 640),
                                                      (1333, 800)],
    })
POLARMASK_1X = {
    'model.backbone.depth': 50,
    'model.backbone.style': 'caffe',
    'model.backbone.frozen_stages': 1,
    'model.bbox_head.num_rays': 36,
    'model.bbox_head.with_box_branch': True,
    'model.bbox_head.regress_ranges': ((-1, 64), (64, 128), (128, 256),
                                       (256, 512), (512, 1e8)),
    'head:target_builder.sampling_radius': 1.5,
    'head:target_builder.ray_origin': 'int_centroid',
    'head:target_builder.ray_target_parts': 'largest',
    'head:target_builder.fallback_candidate': False,
    'head:target_builder.matcher.__class__.__name__': 'MinAreaMatcher',
    'model.test_cfg.nms_pre': 1000,
    'model.test_cfg.score_thr': 0.05,
    'model.test_cfg.quality_offset': 0.5,
    'model.test_cfg.nms.iou_threshold': 0.5,
    'model.test_cfg.max_per_img': 100,
    'optim_wrapper.optimizer.lr': 0.01,
    'optim_wrapper.optimizer.momentum': 0.9,
    'optim_wrapper.optimizer.weight_decay': 0.0001,
    'optim_wrapper.paramwise_cfg.bias_lr_mult': 2.0,
    'optim_wrapper.clip_grad.max_norm': 35,
    'param_scheduler.0.start_factor': 1 / 3,
    'param_scheduler.0.end': 500,
    'param_scheduler.1.milestones': [8, 11],
    'train_dataloader.batch_size': 4,
    'train_dataloader.dataset.pipeline.2.scale': (1280, 768),
    'train_dataloader.dataset.pipeline.2.keep_ratio': False,
}
OFFICIAL = {
    'projects/PolarNeXt/configs/polarnext_r50-torch_fpn_1x_coco.py':
    POLARNEXT_1X,
    'projects/PolarNeXt/configs/polarnext_r50-torch_fpn_3x_ms_coco.py':
    POLARNEXT_3X_MS,
    'projects/PolarNeXt/configs/polarnext_r101-torch_fpn_3x_ms_coco.py':
    dict(
        POLARNEXT_3X_MS, **{
            'model.backbone.depth': 101,
            'model.backbone.init_cfg.checkpoint': 'torchvision://resnet101'
        }),
    'projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py': POLARMASK_1X,
    'projects/PolarMask/configs/polarmask_r50_fpn_ms-640-800_2x_coco.py':
    dict(
        POLARMASK_1X, **{
            'train_cfg.max_epochs': 26,
            'train_dataloader.dataset.pipeline.2.scale': [(1333, 640),
                                                          (1333, 800)],
            'train_dataloader.dataset.pipeline.2.keep_ratio': False,
            'param_scheduler.0.end': 2000,
            'param_scheduler.1.milestones': [18, 24],
            # official 1 image x 32 GPUs at lr 0.02; linearly scaled to 2 x 8
            'train_dataloader.batch_size': 2,
        }),
}


def _lookup(root, dotted):
    value = root
    for key in dotted.split('.'):
        if isinstance(value, (list, tuple)):
            value = value[int(key)]
        elif isinstance(value, dict):
            value = value[key]
        else:
            value = getattr(value, key)
    return value


def _same(actual, expected):
    if isinstance(expected, (list, tuple)):
        return (isinstance(actual, (list, tuple))
                and len(actual) == len(expected)
                and all(_same(a, e) for a, e in zip(actual, expected)))
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return actual == pytest.approx(expected)
    return actual == expected


@pytest.mark.parametrize('path', sorted(OFFICIAL))
def test_paper_configs_equal_the_official_values(path):
    cfg = _load(path)
    head = MODELS.build(_without_pretrained(copy.deepcopy(cfg.model))).bbox_head
    wrong = {}
    for key, expected in OFFICIAL[path].items():
        actual = (_lookup(head, key[len('head:'):])
                  if key.startswith('head:') else _lookup(cfg, key))
        if not _same(actual, expected):
            wrong[key] = (actual, expected)
    assert not wrong, f'(actual, official): {wrong}'


def test_plus_config_changes_only_its_documented_options():
    """The _plus config differs from the paper config only by the options it
    documents: the ray activation and three target options."""
    root = 'projects/PolarNeXt/configs/'
    official = _load(root + 'polarnext_r50-torch_fpn_1x_coco.py')
    plus = _load(root + 'polarnext_r50-torch_fpn_1x_coco_plus.py')
    changed = {
        key: plus.model.bbox_head.target_builder[key]
        for key, value in official.model.bbox_head.target_builder.items()
        if plus.model.bbox_head.target_builder[key] != value
    }
    assert changed == dict(
        ray_origin='centroid', mask_target_parts='all',
        fallback_candidate=True)
    assert plus.model.bbox_head.ray_activation == 'exp'
    plus.model.bbox_head.target_builder = (
        official.model.bbox_head.target_builder)
    plus.model.bbox_head.pop('ray_activation')
    assert plus.model == official.model
    assert plus.optim_wrapper == official.optim_wrapper


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


# ------------------------------------------------------------- inheritance
ALL_CONFIG_FILES = sorted(
    p for pattern in ('configs/**/*.py', 'projects/*/configs/**/*.py')
    for p in REPO_ROOT.glob(pattern))


def _bases(path):
    """The ``_base_`` entries of a config file, relative ones resolved."""
    import ast
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], 'id', None) == '_base_'):
            value = ast.literal_eval(node.value)
            for base in [value] if isinstance(value, str) else value:
                yield (base if '::' in base else
                       (path.parent / base).resolve())
            return


def _allowed_bases(path):
    """Where a config may inherit from (README "Configs", "Projects")."""
    rel = path.relative_to(REPO_ROOT)
    harness = REPO_ROOT / 'configs' / '_base_'
    if rel.parts[0] == 'projects':
        project = REPO_ROOT / 'projects' / rel.parts[1]
        allowed = [project / 'configs', harness]
        if rel.parts[1] == 'PANet':  # the ladders start from the baselines
            allowed.append(REPO_ROOT / 'configs' / 'mask_rcnn_pafpn')
        if len(rel.parts) > 4 and rel.parts[3] != '_base_':
            # ablations inherit their project's configs
            allowed = [project / 'configs'] + allowed[2:]
        return allowed
    allowed = [REPO_ROOT / 'configs']
    if rel.parts[1] == 'own_data':
        allowed.append(REPO_ROOT / 'projects' / 'PolarNeXt' / 'configs' /
                       '_base_')
    return allowed


def test_configs_inherit_mmdet_their_project_or_the_harness():
    assert len(ALL_CONFIG_FILES) > len(CONFIGS)
    wrong = {}
    for path in ALL_CONFIG_FILES:
        allowed = _allowed_bases(path)
        for base in _bases(path):
            if isinstance(base, str):
                ok = base.startswith('mmdet::')
            else:
                ok = base.exists() and any(
                    base == a or a in base.parents for a in allowed)
            if not ok:
                wrong.setdefault(str(path.relative_to(REPO_ROOT)),
                                 []).append(str(base))
    assert not wrong, wrong


def _plain(cfg):
    """A config dict without mmengine's ``_scope_`` bookkeeping."""
    if isinstance(cfg, dict):
        return {k: _plain(v) for k, v in cfg.items() if k != '_scope_'}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_plain(v) for v in cfg)
    return cfg


@pytest.mark.parametrize('ours, theirs, changes', [
    ('configs/solov2/solov2_r50_fpn_1x_coco.py',
     'mmdet::solov2/solov2_r50_fpn_1x_coco.py', {}),
    ('configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
     'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', {}),
    ('configs/mask_rcnn_pafpn/mask-rcnn_r50_pafpn_1x_coco.py',
     'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
     {'neck': dict(type='PAFPN')}),
])
def test_baselines_are_mmdetections_configs(ours, theirs, changes):
    """Model, schedule and optimiser of the baselines are MMDetection's
    (SOLOv2's model is a copy: a failure here means it drifted)."""
    import mmdet
    mmdet_configs = Path(mmdet.__file__).parent / '.mim' / 'configs'
    ours = Config.fromfile(str(REPO_ROOT / ours))
    theirs = Config.fromfile(str(mmdet_configs / theirs[len('mmdet::'):]))
    expected = _plain(theirs.model.to_dict())
    for key, value in changes.items():
        expected[key].update(value)
    assert _plain(ours.model.to_dict()) == expected
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'auto_scale_lr'):
        assert _plain(ours[key]) == _plain(theirs[key]), key
    assert ours.val_evaluator.metric == theirs.val_evaluator.metric


def test_polar_base_configs_show_the_target_options():
    """The paper configs spell out the target options the heads use: every
    option of the builder but the ones the head derives (PolarMask's:
    exactly the head's official defaults)."""
    import inspect
    from mmdet_ext.task_modules import PolarTargetBuilder
    from projects.PolarMask.polarmask.polarmask_head import (
        POLARMASK_TARGETS, PolarMaskHead)
    from projects.PolarNeXt.polarnext import PolarNeXtHead
    root = 'projects/{0}/configs/_base_/{1}'
    polarmask = _load(root.format('PolarMask', 'polarmask_r50-caffe_fpn.py'))
    options = polarmask.model.bbox_head.target_builder.to_dict()
    assert options == POLARMASK_TARGETS
    polarnext = _load(root.format('PolarNeXt', 'polarnext_r50-torch_fpn.py'))
    options = set(polarnext.model.bbox_head.target_builder)
    derived = set(PolarNeXtHead.DERIVED_TARGET_OPTIONS) | {
        'cost_weights', 'focal_alpha', 'focal_gamma'}
    # PolarNeXt has no regress ranges and always builds the masks.
    not_applicable = {'regress_ranges', 'with_masks'}
    builder_options = set(
        inspect.signature(PolarTargetBuilder).parameters) - {'self'}
    assert builder_options - derived - not_applicable == options
    assert set(PolarMaskHead.DERIVED_TARGET_OPTIONS) >= {
        'num_classes', 'num_rays', 'with_masks'}


def test_runners_in_one_process_do_not_share_a_visualizer(toy_root, tmp_path):
    """compare_models evaluates every checkpoint with its own Runner in one
    process; with MMDetection's fixed visualizer name the second Runner
    reused the first one's visualizer and wrote to its deleted work dir."""
    import shutil

    from mmengine.runner import Runner
    cfg = _load('projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py')
    cfg.data_root = f'{toy_root}/'
    visualizers = []
    for name in ('first', 'second'):
        run_cfg = copy.deepcopy(cfg)
        run_cfg.work_dir = str(tmp_path / name)
        run_cfg.experiment_name = name
        runner = Runner.from_cfg(run_cfg)
        visualizers.append(runner.visualizer)
        shutil.rmtree(tmp_path / name)
    assert visualizers[0] is not visualizers[1]


def test_p2_toy_config_adds_a_stride_4_level_and_nothing_else():
    """The quickstart's P2 config differs from the toy config only by the
    neck's first level and the head's strides, and the neck's outputs have
    exactly the head's strides."""
    root = 'projects/PolarNeXt/configs/'
    toy = _load(root + 'polarnext_r18_fpn_toy-cpu.py')
    p2 = _load(root + 'polarnext_r18_fpn-p2_toy-cpu.py')
    assert (p2.model.neck.start_level, toy.model.neck.start_level) == (0, 1)
    assert p2.model.bbox_head.strides == [4, 8, 16, 32, 64]
    p2.model.neck.start_level = 1
    p2.model.bbox_head.strides = toy.model.bbox_head.strides
    assert p2.to_dict() == toy.to_dict()

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    import projects.PolarNeXt.polarnext  # noqa: F401
    cfg = _load(root + 'polarnext_r18_fpn-p2_toy-cpu.py')
    model = MODELS.build(cfg.model)
    feats = model.extract_feat(torch.zeros(1, 3, 128, 96))
    assert [128 // f.shape[-2] for f in feats] == cfg.model.bbox_head.strides


def _level_stride(head, max_distance: float) -> int:
    """Stride of the FCOS level whose regress range takes an object of this
    largest box distance."""
    for stride, (low, high) in zip(head.strides, head.regress_ranges):
        if low < max_distance <= high:
            return stride
    raise AssertionError(max_distance)


def test_polarmask_overfit_config_moves_only_small_objects_to_p2():
    """The tiny PolarMask's overfit config has P2-P6 with the ranges halved:
    an object under 32 px goes to stride 4, one of 32-512 px keeps the stride
    the toy (P3-P7, paper ranges) config gives it; the neck's outputs have
    exactly the head's strides."""
    root = 'projects/PolarMask/configs/'
    toy = _load(root + 'polarmask_r18_fpn_toy-cpu.py').model
    overfit = _load(root + 'polarmask_r18_fpn_overfit-coco128-cpu.py').model
    assert (overfit.neck.start_level, toy.neck.start_level) == (0, 1)
    assert _level_stride(overfit.bbox_head, 20) == 4
    assert _level_stride(toy.bbox_head, 20) == 8
    for distance in (33, 63, 65, 127, 129, 255, 257, 511):
        assert (_level_stride(overfit.bbox_head, distance) ==
                _level_stride(toy.bbox_head, distance)), distance

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    import projects.PolarMask.polarmask  # noqa: F401
    model = MODELS.build(overfit)
    feats = model.extract_feat(torch.zeros(1, 3, 128, 96))
    assert [128 // f.shape[-2] for f in feats] == overfit.bbox_head.strides


@pytest.mark.parametrize('refine,base,mask_size', [
    ('polarnext_r18_fpn-p2-refine_toy-cpu.py', 'polarnext_r18_fpn-p2_toy-cpu.py',
     32),
    ('polarnext_r50-torch_fpn_1x_coco_refine.py',
     'polarnext_r50-torch_fpn_1x_coco.py', 64),
])
def test_refine_configs_change_only_the_head(refine, base, mask_size):
    """A refine config is its base with PolarNeXtRefineHead and the
    refinement's own options (the toy one also with 32-pixel mask crops,
    for the quickstart's time budget): the paper's model stays as it is."""
    root = 'projects/PolarNeXt/configs/'
    ours, theirs = _load(root + refine), _load(root + base)
    head = ours.model.bbox_head
    assert head.target_builder.mask_size == mask_size
    head.target_builder.mask_size = theirs.model.bbox_head.target_builder.get(
        'mask_size', 64)
    assert head.type == 'PolarNeXtRefineHead'
    extra = {key for key in head if key not in theirs.model.bbox_head}
    assert extra <= {'num_refine_steps', 'num_refine_convs', 'refiner',
                     'loss_refine', 'loss_refine_quality'}
    for key in extra:
        del head[key]
    head.type = theirs.model.bbox_head.type
    assert ours.to_dict() == theirs.to_dict()


@pytest.mark.parametrize('project,fixes', [
    ('PolarNeXt', dict(ray_activation='exp')),
    ('PolarMask', dict(norm_on_stride=True)),
])
def test_polar_toy_configs_have_the_overfit_configs_learnability_fixes(
        project, fixes):
    """What made a tiny polar model learn on the overfit set (README
    "Learnability": AdamW, and each head's ray parametrisation) is in its
    toy config too; the paper-named COCO configs keep the official values."""
    root = f'projects/{project}/configs/{project.lower()}_'
    toy = _load(root + 'r18_fpn_toy-cpu.py')
    overfit = _load(root + 'r18_fpn_overfit-coco128-cpu.py')
    paper = _load(root + ('r50-torch_fpn_1x_coco.py' if project == 'PolarNeXt'
                          else 'r50_fpn_1x_coco.py'))
    assert toy.optim_wrapper.optimizer.type == 'AdamW'
    assert toy.optim_wrapper == overfit.optim_wrapper
    assert paper.optim_wrapper.optimizer.type == 'SGD'
    for key, value in fixes.items():
        assert toy.model.bbox_head[key] == overfit.model.bbox_head[key] == value
        assert paper.model.bbox_head.get(key) != value


@pytest.mark.parametrize('path, fine_masks', [
    ('configs/solov2/solov2_r18_fpn_toy-cpu.py', False),
    ('configs/solov2/solov2_r18_fpn_overfit-coco128-cpu.py', True)
])
def test_tiny_solov2_small_object_options(path, fine_masks):
    """The tiny SOLOv2's small-object options (README "Learnability"): masks
    of any area at test time; in the overfit config only (the toy set
    measured worse or equal), masks at stride 2 trained at input resolution
    and no local maximum of the grid scores. The R-50 COCO config is
    MMDetection's (test above)."""
    head = Config.fromfile(str(REPO_ROOT / path)).model.mask_head
    assert head.type == 'SOLOV2FineMaskLossHead'
    assert head.min_mask_pixels == 0
    assert head.mask_loss_stride == (1 if fine_masks else None)
    assert head.get('score_local_max', True) is not fine_masks
    assert head.mask_feature_head.mask_stride == (2 if fine_masks else 4)
    assert head.mask_feature_head.get('type') == (
        'UpsampledMaskFeatModule' if fine_masks else None)


OVERFIT = [c for c in CONFIGS if c.endswith('_overfit-coco128-cpu.py')]
TWO_STAGE_OVERFIT = [
    'configs/mask_rcnn/mask-rcnn_r18_fpn_overfit-coco128-cpu.py',
    'configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_overfit-coco128-cpu.py',
    'projects/PANet/configs/panet_r18_pafpn-gn_overfit-coco128-cpu.py'
]


def test_overfit_configs_compare_models_not_recipes():
    """Every overfit config of the learning curves (README "Learnability")
    trains with the same optimiser, warm-up and batch as the tiny PolarNeXt
    (``learning_curve.py --iters`` sets the budget and the lr step), and the
    two-stage ones share the RPN anchors sized for small objects at 512 px,
    so that a curve's difference is the model's. PANet kept the overfit
    base's SGD after the others had moved to AdamW."""
    assert set(TWO_STAGE_OVERFIT) < set(OVERFIT) and len(OVERFIT) >= 7
    reference = Config.fromfile(str(
        REPO_ROOT / 'projects/PolarNeXt/configs/'
        'polarnext_r18_fpn_overfit-coco128-cpu.py'))
    for path in OVERFIT:
        cfg = Config.fromfile(str(REPO_ROOT / path))
        assert cfg.optim_wrapper == reference.optim_wrapper, path
        assert cfg.param_scheduler[0] == reference.param_scheduler[0], path
        assert cfg.train_dataloader.batch_size == 2, path
    anchors = [
        Config.fromfile(str(REPO_ROOT / path)).model.rpn_head.anchor_generator
        for path in TWO_STAGE_OVERFIT
    ]
    assert all(a == anchors[0] for a in anchors) and anchors[0].scales == [4]
