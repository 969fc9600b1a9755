"""Crash-safe resume: SIGKILL mid-epoch, ``--resume``, same final weights.

On CPU with a fixed seed, a run killed in epoch 2 and resumed from its
epoch-1 checkpoint must end with exactly the weights of an uninterrupted
run (random flips on: the random state travels in the checkpoint, see
``mmdet_ext.engine.RNGStateHook``).
"""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import run_tool
from polar_configs import POLARNEXT, tiny_config

from mmdet_ext.utils import checkpoint_is_complete, find_resume_checkpoint

TOY_CLASSES = ('ellipse', 'star', 'bracket')
# Killed in the last epoch, resumed from the one before.
EPOCHS = 2
ITERS_PER_EPOCH = 4


def _config_file(toy_root, tmp_path):
    cfg = tiny_config(
        POLARNEXT,
        tmp_path / 'unused',
        toy_root,
        'annotations/instances_train.json',
        TOY_CLASSES,
        img_prefix='train/',
        batch_size=2,
        max_epochs=EPOCHS,
        flip=True)
    cfg.train_dataloader.dataset.indices = 2 * ITERS_PER_EPOCH
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=2)
    path = tmp_path / 'resume_cfg.py'
    cfg.dump(str(path))
    return str(path)


def _train_cmd(config, work_dir, *extra):
    return [
        sys.executable, 'tools/train.py', config, '--work-dir',
        str(work_dir), *extra
    ]


def _kill_in_epoch_2(cmd, repo_root, log_path):
    """Start training, SIGKILL it once epoch 2 has logged an iteration."""
    marker = f'Epoch(train) [2][1/{ITERS_PER_EPOCH}]'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            cmd, cwd=repo_root, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        try:
            while time.time() < deadline and proc.poll() is None:
                if marker in log_path.read_text():
                    break
                time.sleep(0.02)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, log_path.read_text()[-3000:]


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=False)[
        'state_dict']


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(
        repo_root, toy_root, tmp_path):
    config = _config_file(toy_root, tmp_path)
    whole, killed = tmp_path / 'whole', tmp_path / 'killed'
    run_tool(_train_cmd(config, whole))

    _kill_in_epoch_2(_train_cmd(config, killed), repo_root,
                     tmp_path / 'killed.log')
    assert (killed / 'epoch_1.pth').is_file()
    assert not (killed / 'epoch_2.pth').exists()  # killed mid-epoch
    output = run_tool(_train_cmd(config, killed, '--resume'))
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in output
    assert ('restored the random state of iteration '
            f'{ITERS_PER_EPOCH}') in output

    expected = _weights(whole / f'epoch_{EPOCHS}.pth')
    resumed = _weights(killed / f'epoch_{EPOCHS}.pth')
    assert expected.keys() == resumed.keys()
    for key, value in expected.items():
        assert torch.equal(value, resumed[key]), key
    # training moved the weights (the comparison is not trivially true)
    before = _weights(killed / f'epoch_{EPOCHS - 1}.pth')
    assert any(not torch.equal(before[k], v) for k, v in resumed.items())


def _save(path, **extra):
    torch.save(dict(state_dict={'w': torch.ones(2)}, **extra), str(path))


def test_find_resume_checkpoint_skips_cut_and_deleted_files(tmp_path):
    _save(tmp_path / 'epoch_1.pth')
    _save(tmp_path / 'epoch_2.pth')
    os.utime(tmp_path / 'epoch_1.pth', (1, 1))
    (tmp_path / 'last_checkpoint').write_text(
        str(tmp_path / 'epoch_2.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_2.pth')
    # killed while writing epoch_3: last_checkpoint names a cut file
    data = (tmp_path / 'epoch_2.pth').read_bytes()
    (tmp_path / 'epoch_3.pth').write_bytes(data[:len(data) // 2])
    assert not checkpoint_is_complete(str(tmp_path / 'epoch_3.pth'))
    (tmp_path / 'last_checkpoint').write_text(
        str(tmp_path / 'epoch_3.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_2.pth')
    # last_checkpoint names a deleted file (max_keep_ckpts)
    (tmp_path / 'epoch_3.pth').unlink()
    (tmp_path / 'epoch_2.pth').unlink()
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'epoch_1.pth')
    (tmp_path / 'epoch_1.pth').unlink()
    assert find_resume_checkpoint(str(tmp_path)) is None


class _FakeRunner:

    def __init__(self, iteration):
        self.iter = iteration
        self.train_dataloader = torch.utils.data.DataLoader([0])


def test_rng_state_hook_restores_only_on_resume():
    import numpy as np

    from mmdet_ext.engine import RNGStateHook
    hook = RNGStateHook()
    checkpoint = dict(meta=dict(iter=4))
    np.random.seed(1)
    hook.before_save_checkpoint(_FakeRunner(4), checkpoint)
    expected = (np.random.rand(), torch.rand(1).item())

    np.random.seed(2)  # what mmengine's re-seeding on start would do
    torch.manual_seed(2)
    hook.after_load_checkpoint(_FakeRunner(0), checkpoint)
    hook.before_train(_FakeRunner(4))  # resumed at the checkpoint's iter
    assert (np.random.rand(), torch.rand(1).item()) == expected

    # load_from (training restarts at iteration 0): untouched
    hook.after_load_checkpoint(_FakeRunner(0), checkpoint)
    np.random.seed(2)
    reseeded = np.random.get_state()[1].copy()
    hook.before_train(_FakeRunner(0))
    assert (np.random.get_state()[1] == reseeded).all()
