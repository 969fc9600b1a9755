"""Two-process CPU training (gloo) equals one process with the same batch.

``tools/dist_train.sh CONFIG 2`` with 1 image per process must follow the
run of one process with 2 images per batch: the polar heads average their
loss normalisers (number of positives, IoU or centerness sums) across
processes with ``reduce_mean`` and DDP averages the gradients, so the
updates coincide up to float summation order. The data includes images
without objects, so a process may have no positive at all while the other
has some: both must still join the same all-reduces. What is compared, since mmengine logs rank 0's
loss only (half the batch): the gradient norm of every iteration (computed
after DDP's all-reduce, so it is the whole batch's on every rank) and the
weights after the last iteration.

Test-only overrides that make the two runs see the same data: frozen
BatchNorm statistics in the backbone (``norm_eval``: per-process batch
statistics differ by construction; the head uses GroupNorm), no random
flip (both processes share one seed, so each would draw the single run's
first flips), a plain batch sampler (``AspectRatioBatchSampler`` groups
differently for batch 1 and 2), equal image sizes (no batch padding
difference) and the same initial weights (``load_from``).
"""
import sys

import pytest
import torch
from bad_dataset import THREE_CLASS_IDS, class_names, make_bad_dataset
from helpers.tools import train_scalars
from mmengine.registry import DefaultScope
from mmengine.runner import save_checkpoint
from polar_configs import polar_config_params, tiny_config

from conftest import run_distributed, run_tool
from mmdet.registry import MODELS

NUM_ITERS = 4


@pytest.fixture(scope='module')
def bad_data(tmp_path_factory):
    return make_bad_dataset(
        tmp_path_factory.mktemp('bad_data'), cat_ids=THREE_CLASS_IDS)


def _config(config, bad_data, tmp_path):
    cfg = tiny_config(
        config,
        tmp_path / 'unused',
        bad_data['root'],
        'annotations/instances_evaluable.json',
        class_names(THREE_CLASS_IDS),
        batch_size=2,
        flip=False)
    cfg.train_dataloader.dataset.indices = 2 * NUM_ITERS
    cfg.train_dataloader.batch_sampler = None
    cfg.model.backbone.norm_eval = True
    # The update check compares parameters after a few steps: with SGD they
    # follow the all-reduced gradients linearly, while Adam's normalisation
    # amplifies float-level differences of near-zero gradients.
    cfg.optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9,
                       weight_decay=0.0001),
        paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
        clip_grad=dict(max_norm=35, norm_type=2))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.load_from = str(_initial_weights(cfg, tmp_path / 'init.pth'))
    path = tmp_path / 'ddp_cfg.py'
    cfg.dump(str(path))
    return str(path)


def _initial_weights(cfg, path):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    save_checkpoint(dict(state_dict=model.state_dict()), str(path))
    return path


def _grad_norms(work_dir):
    """The gradient norm of every iteration (rank 0's scalars.json)."""
    return [s['grad_norm'] for s in train_scalars(work_dir)]


def _weights(work_dir):
    return torch.load(
        str(work_dir / 'epoch_1.pth'), map_location='cpu',
        weights_only=False)['state_dict']


def _relative_update_error(start, ref, other):
    """||(other - start) - (ref - start)|| / ||ref - start|| over all float
    weights that training changes."""
    diff, norm = 0., 0.
    for key, value in ref.items():
        if not value.is_floating_point():
            continue
        update = value.double() - start[key].double()
        diff += (other[key].double() - value.double()).pow(2).sum().item()
        norm += update.pow(2).sum().item()
    assert norm > 0
    return (diff / norm)**0.5


@pytest.mark.slow
@pytest.mark.parametrize('config', polar_config_params() + [
    pytest.param(
        'projects/PolarNeXt/configs/polarnext_r18_fpn-p2-refine_toy-cpu.py',
        id='polarnext-refine')
])
def test_two_processes_match_one_with_the_same_total_batch(
        config, bad_data, tmp_path):
    config = _config(config, bad_data, tmp_path)
    single, dist = tmp_path / 'single', tmp_path / 'dist'
    run_tool([
        sys.executable, 'tools/train.py', config, '--work-dir', single
    ])
    dist_cmd = [
        'bash', 'tools/dist_train.sh', config, '2', '--work-dir',
        str(dist), '--cfg-options', 'train_dataloader.batch_size=1'
    ]
    out_dist = run_distributed(dist_cmd)
    assert 'CPU distributed: gloo, rank 0 of 2' in out_dist

    norms_single, norms_dist = _grad_norms(single), _grad_norms(dist)
    assert len(norms_single) == len(norms_dist) == NUM_ITERS
    assert norms_dist == pytest.approx(norms_single, rel=1e-4)

    start = torch.load(
        str(tmp_path / 'init.pth'), weights_only=False)['state_dict']
    ref, other = _weights(single), _weights(dist)
    # measured 1.7e-5 (summation order); a wrong normaliser gives > 1e-2
    assert _relative_update_error(start, ref, other) < 2e-4
