"""End-to-end: tools/train.py, --resume and tools/test.py on CPU (two-process
training through dist_train.sh: test_reliability/test_distributed.py).

Uses the tiny SOLOv2 toy config on 4 toy images so each run takes seconds.
"""
import math
import sys

import pytest
from helpers.tools import metrics_of_test_run, train_scalars

from conftest import run_tool, tiny_toy_options

CONFIG = 'configs/solov2/solov2_r18_fpn_toy-cpu.py'


def _train(work_dir, data_root, max_epochs, *extra):
    return run_tool([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
        *extra, '--cfg-options', *tiny_toy_options(data_root, max_epochs)
    ])


@pytest.fixture(scope='module')
def trained(toy_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    _train(work_dir, toy_root, 1)
    return work_dir


def test_train_saves_checkpoint(trained):
    work_dir = trained
    assert (work_dir / 'epoch_1.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')
    scalars = train_scalars(work_dir)
    assert [(s['epoch'], s['iter']) for s in scalars] == [(1, 1), (1, 2)]
    assert all(math.isfinite(s['loss']) and s['loss'] < 1e4
               for s in scalars), scalars


def test_resume_continues_from_last_checkpoint(trained, toy_root):
    work_dir = trained
    output = _train(work_dir, toy_root, 2, '--resume')
    assert 'resumed epoch: 1' in output
    # epoch 1 was not trained again: the resumed run goes on at iteration 3
    scalars = train_scalars(work_dir)
    assert [(s['epoch'], s['iter']) for s in scalars] == [(2, 3), (2, 4)]
    assert (work_dir / 'epoch_2.pth').is_file()


def test_test_tool_evaluates_checkpoint(trained, toy_root, tmp_path):
    work_dir = trained
    run_tool([
        sys.executable, 'tools/test.py', CONFIG, work_dir / 'epoch_1.pth',
        '--work-dir', tmp_path, '--show-dir', tmp_path / 'vis',
        '--cfg-options', *tiny_toy_options(toy_root, 1),
        # an (almost) untrained model: keep low-score masks so AP is computed
        'model.test_cfg.score_thr=0.0', 'model.test_cfg.filter_thr=0.0',
        'model.test_cfg.mask_thr=0.3'
    ])
    metrics = metrics_of_test_run(tmp_path)
    assert -1 <= metrics['coco/segm_mAP'] <= 1, metrics
    assert len(list((tmp_path / 'vis').glob('*.png'))) == 4  # toy val
