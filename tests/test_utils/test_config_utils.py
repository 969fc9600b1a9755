"""--cfg-options data_root=... moves datasets and evaluators together."""
from mmengine.config import Config

from mmdet_ext.utils import merge_cfg_options


def test_data_root_override_propagates(repo_root):
    cfg = Config.fromfile(
        str(repo_root / 'configs/solov2/solov2_r50_fpn_1x_coco.py'))
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    merge_cfg_options(cfg, {'data_root': '/datasets/coco/'})
    assert cfg.data_root == '/datasets/coco/'
    assert cfg.train_dataloader.dataset.data_root == '/datasets/coco/'
    assert cfg.test_dataloader.dataset.data_root == '/datasets/coco/'
    assert cfg.val_evaluator.ann_file == \
        '/datasets/coco/annotations/instances_val2017.json'
    assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file


def test_explicit_options_win_over_propagation(repo_root):
    cfg = Config.fromfile(
        str(repo_root / 'configs/solov2/solov2_r50_fpn_1x_coco.py'))
    merge_cfg_options(
        cfg, {
            'data_root': '/x/',
            'val_evaluator.ann_file': '/y/val.json',
            'train_dataloader.batch_size': 1
        })
    assert cfg.val_evaluator.ann_file == '/y/val.json'
    assert cfg.train_dataloader.dataset.data_root == '/x/'
    assert cfg.train_dataloader.batch_size == 1


def test_no_options_is_a_no_op(repo_root):
    cfg = Config.fromfile(
        str(repo_root / 'configs/solov2/solov2_r50_fpn_1x_coco.py'))
    before = cfg.pretty_text
    merge_cfg_options(cfg, None)
    assert cfg.pretty_text == before
