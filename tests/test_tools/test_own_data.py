"""Own data end to end (README "Train on your own data"): generated 7-class
and 1-class COCO folders train, test and draw with
``configs/own_data/polarnext_r18_fpn_own-data-cpu.py`` and no class option:
the classes come from the annotation files (``CocoFormatDataset``,
``sync_classes``).

The 7-class set goes through ``tools/train.py``, ``tools/test.py`` and the
demo (as a user runs them); the 1-class set through a ``Runner`` built the
way the tools build it. A few training iterations each.
"""
import math
import sys

import pytest
import torch
from helpers.tools import metrics_of_test_run, train_scalars
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import load_tool, run_tool, tiny_toy_options
from mmdet_ext.utils import merge_cfg_options, sync_classes

pytestmark = pytest.mark.slow

CONFIG = 'configs/own_data/polarnext_r18_fpn_own-data-cpu.py'
# An almost untrained model: keep every detection so that AP is computed
# (every label must map back to a category id of the file).
KEEP_ALL = ['model.test_cfg.score_thr=0.0']


def _make_set(tmp_path_factory, num_classes):
    toy = load_tool('tools/misc/make_toy_dataset.py')
    root = tmp_path_factory.mktemp(f'own_{num_classes}cls')
    result = toy.make_toy_dataset(
        root, seed=1, num_train=4, num_val=2, img_size=(160, 120),
        num_classes=num_classes)
    names = tuple(c['name'] for c in result['categories'])
    return root, names


@pytest.fixture(scope='module')
def seven(tmp_path_factory):
    """The 7-class set trained with tools/train.py."""
    root, names = _make_set(tmp_path_factory, 7)
    work_dir = tmp_path_factory.mktemp('own_7cls_work')
    run_tool([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
        '--cfg-options', *tiny_toy_options(root)
    ])
    return root, names, work_dir


def test_train_tool_takes_the_classes_of_the_file(seven):
    _, names, work_dir = seven
    assert len(names) == 7
    scalars = train_scalars(work_dir)
    assert scalars and all(math.isfinite(s['loss']) for s in scalars)
    dumped = Config.fromfile(
        str(work_dir / 'polarnext_r18_fpn_own-data-cpu.py'))
    assert dumped.model.bbox_head.num_classes == 7
    assert dumped.train_dataloader.dataset.metainfo.classes == names
    checkpoint = torch.load(
        work_dir / 'epoch_1.pth', map_location='cpu', weights_only=False)
    assert tuple(checkpoint['meta']['dataset_meta']['classes']) == names
    assert checkpoint['state_dict'][
        'bbox_head.conv_cls.weight'].shape[0] == 7


def test_test_tool_evaluates_with_the_file_classes(seven, tmp_path):
    root, _, work_dir = seven
    run_tool([
        sys.executable, 'tools/test.py', CONFIG, work_dir / 'epoch_1.pth',
        '--work-dir', tmp_path, '--cfg-options', *tiny_toy_options(root),
        *KEEP_ALL
    ])
    # every detection kept, each label a category of the file: AP computed
    metrics = metrics_of_test_run(tmp_path)
    assert 0 <= metrics['coco/segm_mAP'] <= 1, metrics


def test_demo_draws_with_the_checkpoint_classes(seven, tmp_path):
    """Where the demo runs the annotation files may be absent: the classes
    come from the checkpoint."""
    root, names, work_dir = seven
    demo = load_tool('demo/image_demo.py')
    argv = [
        str(root / 'val'), CONFIG, '--weights',
        str(work_dir / 'epoch_1.pth'), '--out-dir',
        str(tmp_path), '--device', 'cpu', '--pred-score-thr', '0',
        '--no-save-pred', '--cfg-options', f'data_root={tmp_path}/nowhere/'
    ]
    cfg = demo.demo_config(demo.parse_args(argv))
    # (DetInferencer loads weights non-strictly: an 80-class model would
    # only warn, so the config itself is checked)
    assert cfg.model.bbox_head.num_classes == 7
    assert cfg.test_dataloader.dataset.metainfo.classes == names
    assert len(demo.main(argv)) == 2


def test_one_class_set_trains_and_tests(tmp_path_factory, tmp_path):
    root, names = _make_set(tmp_path_factory, 1)
    cfg = Config.fromfile(CONFIG)
    options = load_tool('tools/misc/overfit.py').parse_cfg_options(
        tiny_toy_options(root) + KEEP_ALL)
    merge_cfg_options(cfg, options)
    cfg.work_dir = str(tmp_path)
    assert sync_classes(cfg) == names == ('ellipse', )
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.model.bbox_head.num_classes == 1
    metrics = runner.test()
    assert 0 <= metrics['coco/segm_mAP'] <= 1, metrics
