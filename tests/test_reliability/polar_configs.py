"""The tiny polar configs of the reliability tests, derived for tiny data,
and a hook recording what each training iteration saw.

Both polar models are exercised through their tiny CPU configs; PolarMask's
cases skip while its config does not exist.
"""
from pathlib import Path
from typing import List, Optional, Sequence

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook

from mmdet_ext.utils.dataset_classes import set_num_classes

REPO_ROOT = Path(__file__).resolve().parents[2]
POLARNEXT = 'projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py'
POLARMASK = 'projects/PolarMask/configs/polarmask_r18_fpn_toy-cpu.py'
#: Side of the (square) resize of the tiny runs: small, but > the largest
#: stride's receptive field so every FPN level has a few locations.
IMG_SCALE = (128, 128)


def polar_config_params() -> List:
    """``pytest.param`` per polar model; PolarMask skips while missing."""
    params = [pytest.param(POLARNEXT, id='polarnext')]
    if (REPO_ROOT / POLARMASK).is_file():
        params.append(pytest.param(POLARMASK, id='polarmask'))
    else:
        params.append(
            pytest.param(
                POLARMASK,
                id='polarmask',
                marks=pytest.mark.skip(
                    reason=f'{POLARMASK} does not exist yet (issue 5)')))
    return params


def _pipelines(strict_loading: bool, flip: bool):
    load = dict(type='LoadImageFromFile')
    if strict_loading:
        load = dict(type='CheckedLoadImageFromFile')
    # The loader of the repository's configs: objects without a usable
    # mask are ignored instead of raising.
    anns = dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True)
    train = [
        load,
        dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
        dict(type='Resize', scale=IMG_SCALE, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5 if flip else 0.),
        dict(type='PackDetInputs')
    ]
    test = [
        load,
        dict(type='Resize', scale=IMG_SCALE, keep_ratio=True), anns,
        dict(
            type='PackDetInputs',
            meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                       'scale_factor'))
    ]
    return train, test


def tiny_config(config: str,
                work_dir: Path,
                data_root: Path,
                ann_file: str,
                classes: Sequence[str],
                img_prefix: str = 'images/',
                batch_size: int = 4,
                max_epochs: int = 1,
                strict_loading: bool = True,
                flip: bool = True,
                validate: bool = False,
                test_ann_file: Optional[str] = None) -> Config:
    """A polar config training and testing on ``ann_file`` for seconds.

    Args:
        config (str): Repository-relative tiny polar config.
        work_dir (Path): Work directory.
        data_root (Path): Root of the dataset.
        ann_file (str): Annotation file relative to ``data_root`` (used for
            train, val and test).
        classes (Sequence[str]): Category names of the dataset.
        img_prefix (str): Image folder relative to ``data_root``.
        batch_size (int): Training batch size.
        max_epochs (int): Epochs.
        strict_loading (bool): Load images with
            ``CheckedLoadImageFromFile`` (mmdet_ext).
        flip (bool): Random flips in training.
        validate (bool): Validate after the last epoch.
        test_ann_file (str, optional): Annotation file of the val and test
            splits; ``ann_file`` by default.

    Returns:
        Config: Ready for ``Runner.from_cfg`` or ``Config.dump``.
    """
    cfg = Config.fromfile(str(REPO_ROOT / config))
    train_pipeline, test_pipeline = _pipelines(strict_loading, flip)
    set_num_classes(cfg.model, len(classes))
    root = str(data_root) + '/'
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[split]
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = root
        loader.dataset.ann_file = ann_file if split == 'train_dataloader' \
            else test_ann_file or ann_file
        loader.dataset.data_prefix = dict(img=img_prefix)
        loader.dataset.metainfo = dict(classes=tuple(classes))
        loader.dataset.pipeline = (
            train_pipeline if split == 'train_dataloader' else test_pipeline)
    cfg.train_dataloader.batch_size = batch_size
    # Images without objects must reach the heads too.
    cfg.train_dataloader.dataset.filter_cfg = dict(
        filter_empty_gt=False, min_size=0)
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = root + (test_ann_file or ann_file)
    cfg.train_cfg.max_epochs = max_epochs
    if not validate:
        # EpochBasedTrainLoop validates after the last epoch otherwise.
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0,
             end=4)
    ]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    return cfg


class RecordHook(Hook):
    """Records what each training iteration saw and returned."""

    def __init__(self):
        self.samples = []  # (file name, num gt, num ignored)
        self.shapes = []  # (file name, loaded (H, W))
        self.losses = []  # dict of floats per iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        for sample in data_batch['data_samples']:
            name = Path(sample.img_path).name
            self.samples.append((name, len(sample.gt_instances),
                                 len(sample.ignored_instances)))
            self.shapes.append((name, tuple(sample.ori_shape)))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({
            key: float(value.detach()) if hasattr(value, 'detach') else
            float(value)
            for key, value in outputs.items() if key.startswith('loss')
        })
