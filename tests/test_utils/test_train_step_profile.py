"""mmdet_ext.utils.train_step_profile: one training step of a tiny model,
broken down by the detector's and the library's profiler scopes (the
comparison tool around it: tests/test_tools/test_compare_models.py)."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.profiler import profile

from conftest import REPO_ROOT
from mmdet_ext.utils.benchmark import build_model
from mmdet_ext.utils.train_step_profile import (model_num_classes,
                                                scope_rank,
                                                synthetic_train_batch,
                                                train_step,
                                                training_breakdown)

CONFIGS = REPO_ROOT / 'projects'
POLARNEXT = CONFIGS / 'PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py'
POLARMASK = CONFIGS / 'PolarMask/configs/polarmask_r18_fpn_toy-cpu.py'


def _model(config, **target_builder):
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(config))
    cfg.model.bbox_head.target_builder.update(target_builder)
    return build_model(cfg.model, torch.device('cpu')).train()


@pytest.mark.parametrize('cost_mask', ['soft', 'hard'])
def test_build_rasterises_as_configured(cost_mask):
    """The scopes inside PolarTargetBuilder time the path the model takes:
    with the soft cost (R-50 default) every candidate is soft-rasterised
    once, with gradient; with the hard cost the candidates are hard-
    rasterised and the positives soft-rasterised."""
    model = _model(POLARNEXT, cost_mask=cost_mask)
    batch = synthetic_train_batch(model, (96, 128), 4, 0)
    with profile() as prof:
        loss = train_step(model, batch)
    counts = {e.key: e.count for e in prof.key_averages()
              if e.key.startswith('polar_targets/')}
    assert counts['polar_targets/build'] == 1
    assert counts['polar_targets/soft_masks'] == 1
    assert counts.get('polar_targets/hard_cost_masks', 0) == \
        (cost_mask == 'hard')
    assert loss > 0
    assert all(p.grad is not None for p in model.bbox_head.parameters()
               if p.requires_grad)


def test_polarmask_breakdown_shares_the_builder_scopes():
    model = _model(POLARMASK)
    batch = synthetic_train_batch(model, (96, 128), 3, 0)
    gt = batch['data_samples'][0].gt_instances
    assert len(gt) == 3 and int(gt.labels.max()) < model_num_classes(model)
    steps = training_breakdown(model, batch, torch.device('cpu'))
    assert 'polar_targets/build' in steps
    assert {'step/backbone forward', 'step/neck forward',
            'step/bbox_head forward'} <= set(steps)
    assert list(steps)[0] == 'step/data_preprocessor'
    assert list(steps)[-2:] == ['step/forward + losses', 'step/backward']
    assert all(ms >= 0 for ms in steps.values())


def test_scope_rank_orders_the_step():
    keys = ['step/backward', 'polar_targets/b', 'step/neck forward',
            'step/forward + losses', 'polar_targets/a',
            'step/data_preprocessor']
    assert sorted(keys, key=scope_rank) == [
        'step/data_preprocessor', 'step/neck forward', 'polar_targets/a',
        'polar_targets/b', 'step/forward + losses', 'step/backward'
    ]


def test_model_without_classes_is_an_error():
    with pytest.raises(ValueError, match='num_classes'):
        model_num_classes(torch.nn.Sequential(torch.nn.Linear(2, 2)))
