"""``tools/train.py --amp`` on CPU: bfloat16 autocast, geometry in fp32.

mmengine 0.10.7's ``AmpOptimWrapper`` asserts CUDA; without CUDA the tool
picks ``mmdet_ext.engine.CPUAmpOptimWrapper`` (bfloat16 autocast, no loss
scaling). The polar models must train under it without NaN.
"""
import argparse
import math
import sys

import pytest
import torch
from bad_dataset import (THREE_CLASS_IDS, USABLE_CASES, class_names,
                         make_bad_dataset)
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from polar_configs import (REPO_ROOT, RecordHook, polar_config_params,
                           tiny_config)

from mmdet.registry import MODELS
from mmdet_ext.engine import CPUAmpOptimWrapper, amp_optim_wrapper
from mmdet_ext.utils import cuda_available

pytestmark = pytest.mark.skipif(
    cuda_available(), reason='checks the CPU (bfloat16) autocast path')


def _train_tool():
    sys.path.insert(0, str(REPO_ROOT / 'tools'))
    from conftest import load_tool  # tests/conftest.py
    return load_tool('tools/train.py')


@pytest.fixture(scope='module')
def bad_data(tmp_path_factory):
    return make_bad_dataset(
        tmp_path_factory.mktemp('bad_data'), cat_ids=THREE_CLASS_IDS)


class DtypeHook(RecordHook):
    """Also records the output dtype of the backbone's first conv."""

    def __init__(self):
        super().__init__()
        self.dtypes = {}

    def before_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)

        def record(module, inputs, output):
            self.dtypes.setdefault('backbone', output.dtype)

        model.backbone.conv1.register_forward_hook(record)


@pytest.mark.parametrize('config', polar_config_params())
def test_amp_trains_polar_models_on_cpu(config, bad_data, tmp_path):
    train = _train_tool()
    args = argparse.Namespace(
        config=str(REPO_ROOT / config), work_dir=str(tmp_path), amp=True,
        auto_scale_lr=False, resume=None, cfg_options=None,
        launcher='none')
    tool_cfg = train.build_config(args)
    assert tool_cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'

    cfg = tiny_config(config, tmp_path, bad_data['root'],
                      'annotations/instances_usable.json',
                      class_names(THREE_CLASS_IDS), max_epochs=2)
    cfg.optim_wrapper = tool_cfg.optim_wrapper
    runner = Runner.from_cfg(cfg)
    hook = DtypeHook()
    runner.register_hook(hook, priority='LOWEST')
    runner.train()

    assert isinstance(runner.optim_wrapper, CPUAmpOptimWrapper)
    assert hook.dtypes['backbone'] == torch.bfloat16  # autocast is on
    assert len(hook.losses) == 2 * math.ceil(len(USABLE_CASES) / 4)
    for losses in hook.losses:
        assert all(math.isfinite(v) for v in losses.values()), losses
    # the weights stay float32 and finite
    for name, param in runner.model.named_parameters():
        assert param.dtype == torch.float32, name
        assert torch.isfinite(param).all(), name


@pytest.mark.parametrize('config', polar_config_params())
def test_rays_stay_fp32_under_autocast(config, bad_data, tmp_path):
    cfg = tiny_config(config, tmp_path, bad_data['root'],
                      'annotations/instances_usable.json',
                      class_names(THREE_CLASS_IDS))
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(cfg.model).bbox_head
    feats = [torch.randn(1, 64, s, s) for s in (16, 8, 4, 2, 1)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outputs = head(feats)
    # per output kind, per level: (1, C, H, W); rays have num_rays channels
    rays = [out for out in outputs if out[0] is not None and
            out[0].shape[1] == head.num_rays]
    assert len(rays) == 1
    assert all(level.dtype == torch.float32 for level in rays[0])
    assert outputs[0][0].dtype == torch.bfloat16  # class logits: autocast


def test_amp_optim_wrapper_choice():
    base = dict(optimizer=dict(type='SGD', lr=0.1), clip_grad=None)
    cpu = amp_optim_wrapper(dict(base, loss_scale=512.))
    assert cpu['type'] == 'CPUAmpOptimWrapper'
    assert cpu['dtype'] == 'bfloat16' and 'loss_scale' not in cpu
    model = torch.nn.Linear(2, 2)
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match='only bfloat16'):
        CPUAmpOptimWrapper(optimizer=optim, dtype='float16')
    wrapper = CPUAmpOptimWrapper(optimizer=optim)
    with wrapper.optim_context(model):
        assert model(torch.ones(1, 2)).dtype == torch.bfloat16
    assert model(torch.ones(1, 2)).dtype == torch.float32
