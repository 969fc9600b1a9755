"""End-to-end: tools/train.py, --resume, tools/test.py and dist_train.sh on CPU.

Uses the tiny SOLOv2 toy config on 4 toy images so each run takes seconds.
"""
import os
import re
import socket
import subprocess
import sys

import pytest

CONFIG = 'configs/solov2/solov2_r18_fpn_toy-cpu.py'


def _tiny_options(data_root, max_epochs):
    return [
        f'data_root={data_root}/',
        f'train_cfg.max_epochs={max_epochs}',
        'train_cfg.val_interval=100',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.indices=4',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
    ]


def _run(args, repo_root, timeout=600, env=None):
    proc = subprocess.run(
        args,
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def _train(repo_root, work_dir, data_root, max_epochs, *extra):
    return _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(work_dir), *extra, '--cfg-options',
        *_tiny_options(data_root, max_epochs)
    ], repo_root)


@pytest.fixture(scope='module')
def trained(repo_root, toy_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    output = _train(repo_root, work_dir, toy_root, 1)
    return work_dir, output


def test_train_saves_checkpoint(trained):
    work_dir, output = trained
    assert (work_dir / 'epoch_1.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')
    losses = [float(v) for v in re.findall(r' loss: ([0-9.]+)', output)]
    assert losses and all(v == v and v < 1e4 for v in losses)


def test_resume_continues_from_last_checkpoint(trained, repo_root,
                                                toy_root):
    work_dir, _ = trained
    output = _train(repo_root, work_dir, toy_root, 2, '--resume')
    assert 'resumed epoch: 1' in output
    assert 'Epoch(train) [1]' not in output  # epoch 1 was not trained again
    assert 'Epoch(train) [2]' in output
    assert (work_dir / 'epoch_2.pth').is_file()


def test_test_tool_evaluates_checkpoint(trained, repo_root, toy_root,
                                        tmp_path):
    work_dir, _ = trained
    output = _run([
        sys.executable, 'tools/test.py', CONFIG,
        str(work_dir / 'epoch_1.pth'), '--work-dir',
        str(tmp_path), '--show-dir',
        str(tmp_path / 'vis'), '--cfg-options',
        *_tiny_options(toy_root, 1),
        # an (almost) untrained model: keep low-score masks so AP is computed
        'model.test_cfg.score_thr=0.0', 'model.test_cfg.filter_thr=0.0',
        'model.test_cfg.mask_thr=0.3'
    ], repo_root)
    assert re.search(r'coco/segm_mAP: -?[0-9.]+', output), output[-2000:]
    assert list((tmp_path / 'vis').glob('*.png'))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_dist_train_two_cpu_processes(repo_root, toy_root, tmp_path):
    args = [
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', *_tiny_options(toy_root, 1)
    ]
    # One retry with a new port: the rendezvous port can be taken between
    # choosing it and torchrun binding it (seen once in ~10 runs).
    try:
        output = _run(args, repo_root, env={'PORT': str(_free_port())})
    except AssertionError:
        output = _run(args, repo_root, env={'PORT': str(_free_port())})
    assert 'CPU distributed: gloo, rank 0 of 2' in output
    assert (tmp_path / 'epoch_1.pth').is_file()
