"""Learnability loop: train on a few real images, then evaluate on them
(the core of ``tools/misc/overfit.py``).

``overfit()`` writes a COCO annotation file with the first ``num_images``
annotated images of a split, builds the run's config
(:func:`build_overfit_config`: data paths, classes of that file, schedule
scaled to ``max_iters``, then the user's ``--cfg-options``), dumps it to
``WORK_DIR/overfit_config.py``, trains it with ``tools/train.py`` and
evaluates the checkpoint on the same images with ``tools/test.py``, both as
subprocesses (exactly what a user runs). It is used by the learnability
test, ``ablate_dice.py`` and ``tools/analysis_tools/learning_curve.py``.

Classes come from the subset's ``categories`` (in the file's order, which
is the order of mmdet's labels): the datasets get them as
``metainfo.classes`` and every ``num_classes`` of the model is set to their
number, so any COCO-format set (one class, seven classes...) needs no
``--cfg-options``.

Schedule scaling (``max_iters`` given, or ``train_cfg.max_iters`` among the
options): an iteration-based config of ``M`` iterations trained for ``N``
instead; only the ``by_epoch=False`` entries of ``param_scheduler`` change:

* a warm-up (``begin == 0`` and ``end < M``, no milestones) keeps its length
  but at most a quarter of the new budget:
  ``end = max(1, min(end, N // 4))``. A warm-up protects the first updates
  from a large learning rate; it need not grow with the budget, and a short
  budget must not be spent warming up;
* every other ``begin``, ``end`` (``end == M`` becomes ``N``; an ``end``
  past ``M``, e.g. mmengine's open end, is kept), ``milestones`` and
  ``T_max`` is scaled by ``N / M`` (rounded half up; milestones within
  ``[1, N]``): milestone 320 of 400 becomes 80 of 100;
* ``train_cfg.max_iters = N``, ``train_cfg.val_interval = N + 1`` and
  ``default_hooks.checkpoint.interval = N`` (one checkpoint, at the end).

With or without a budget, ``train_cfg.val_begin`` is set past the end: no
validation while training (``tools/test.py`` evaluates afterwards).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

from mmdet_ext.utils.config_utils import merge_cfg_options
from mmdet_ext.utils.dataset_classes import read_class_names, set_num_classes

# The train / test subprocesses run the repository's tools.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = ('projects/PolarNeXt/configs/'
                  'polarnext_r18_fpn_overfit-coco128-cpu.py')
DEFAULT_DATA = osp.join(REPO_ROOT, '..', 'shared', 'data', 'coco128_seg')
CONFIG_NAME = 'overfit_config.py'
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EVALUATORS = ('val_evaluator', 'test_evaluator')
# CocoMetric's log line, e.g. "coco/segm_mAP: 0.4250  coco/segm_mAP_50: 0.8".
_METRIC = re.compile(r'coco/(segm|bbox)_mAP(_50|_75|_s|_m|_l)?: (-?[0-9.]+)')
# CocoMetric's error (and no metric) when the model detected nothing.
_NO_DETECTIONS = 'The testing results of the whole dataset is empty'

def write_subset(ann_file: str,
                 out_file: str,
                 num_images: int,
                 categories: Optional[Sequence[str]] = None,
                 image_ids: Optional[Sequence[int]] = None) -> List[int]:
    """Keep the first ``num_images`` images that have a non-crowd object.

    Args:
        ann_file (str): Source COCO annotation file.
        out_file (str): Where to write the subset.
        num_images (int): Number of images to keep.
        categories (Sequence[str], optional): Category names to keep (e.g.
            ``['person']`` for a one-class set); the objects of the others
            are removed, crowd regions included, and an image counts only if
            a kept object remains. None keeps every category.
        image_ids (Sequence[int], optional): Choose among these images only
            (then in the file's order); each must exist and keep an object.

    Returns:
        list[int]: The kept image ids.

    Raises:
        ValueError: An unknown category name or image id, or an image id
            without a kept object.
    """
    with open(ann_file) as f:
        data = json.load(f)
    if categories is not None:
        _keep_categories(data, categories, ann_file)
    with_objects = {
        ann['image_id']
        for ann in data['annotations'] if not ann.get('iscrowd', 0)
    }
    candidates = with_objects
    if image_ids is not None:
        # Checked: every requested id has an object.
        _check_image_ids(data, image_ids, with_objects, ann_file)
        candidates = set(image_ids)
    images = [img for img in data['images']
              if img['id'] in candidates][:num_images]
    keep = {img['id'] for img in images}
    data['images'] = images
    data['annotations'] = [
        ann for ann in data['annotations'] if ann['image_id'] in keep
    ]
    with open(out_file, 'w') as f:
        json.dump(data, f)
    return sorted(keep)


def _keep_categories(data: dict, names: Sequence[str], ann_file: str) -> None:
    """Reduce a COCO dict to the categories ``names`` (in the file's
    order) and their objects."""
    known = [cat['name'] for cat in data['categories']]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f'categories {unknown} not in {ann_file} '
                         f'(it has {known})')
    data['categories'] = [
        cat for cat in data['categories'] if cat['name'] in names
    ]
    ids = {cat['id'] for cat in data['categories']}
    data['annotations'] = [
        ann for ann in data['annotations'] if ann['category_id'] in ids
    ]


def _check_image_ids(data: dict, image_ids: Sequence[int],
                     with_objects: set, ann_file: str) -> None:
    """Every requested image exists and has a (kept) non-crowd object."""
    known = {img['id'] for img in data['images']}
    missing = [i for i in image_ids if i not in known]
    if missing:
        raise ValueError(f'image ids {missing} not in {ann_file}')
    empty = [i for i in image_ids if i not in with_objects]
    if empty:
        raise ValueError(f'image ids {empty} of {ann_file} have no '
                         'non-crowd object (of the kept categories)')


def set_classes(cfg: Config, classes: Sequence[str]) -> None:
    """Give the train/val/test datasets ``classes`` and the model as many
    classes.

    Args:
        cfg (Config): Config to edit in place.
        classes (Sequence[str]): Class names in label order.
    """
    for loader in DATALOADERS:
        dataset = cfg[loader].dataset
        metainfo = dict(dataset.get('metainfo') or {}, classes=tuple(classes))
        # A palette of another length would not match the labels.
        if len(metainfo.get('palette', classes)) != len(classes):
            metainfo.pop('palette')
        dataset.metainfo = metainfo
    if not set_num_classes(cfg.model, len(classes), 'model'):
        raise ValueError('the model config has no num_classes to set')


def set_data(cfg: Config, data_root: str, ann_file: str, split: str) -> None:
    """Point the datasets and evaluators at ``ann_file`` and the images of
    ``split`` under ``data_root``.

    Args:
        cfg (Config): Config to edit in place.
        data_root (str): Absolute COCO-format root.
        ann_file (str): Absolute annotation file (the subset).
        split (str): Image folder name under ``data_root``.
    """
    cfg.data_root = data_root + '/'
    for loader in DATALOADERS:
        dataset = cfg[loader].dataset
        dataset.data_root = data_root + '/'
        dataset.ann_file = ann_file
        dataset.data_prefix = dict(dataset.get('data_prefix') or {},
                                   img=f'{split}/')
    for evaluator in EVALUATORS:
        cfg[evaluator].ann_file = ann_file


def _scale(value: int, old: int, new: int) -> int:
    """``value * new / old`` rounded half up, in integers."""
    return (value * new + old // 2) // old


def scale_scheduler(scheduler: dict, old_iters: int, new_iters: int) -> dict:
    """One ``by_epoch=False`` scheduler of an ``old_iters`` schedule moved
    to ``new_iters`` (rule in the module docstring).

    Args:
        scheduler (dict): A ``param_scheduler`` entry.
        old_iters (int): The config's ``train_cfg.max_iters``.
        new_iters (int): The new budget.

    Returns:
        dict: The scaled copy.
    """
    scheduler = dict(scheduler)
    begin = scheduler.get('begin', 0)
    end = scheduler.get('end')
    if begin == 0 and end is not None and end < old_iters \
            and 'milestones' not in scheduler:
        scheduler['end'] = max(1, min(end, new_iters // 4))
        return scheduler
    if begin:
        scheduler['begin'] = _scale(begin, old_iters, new_iters)
    if end is not None and end <= old_iters:
        scheduler['end'] = _scale(end, old_iters, new_iters)
    if 'milestones' in scheduler:
        scheduler['milestones'] = [
            min(new_iters, max(1, _scale(m, old_iters, new_iters)))
            for m in scheduler['milestones']
        ]
    if 'T_max' in scheduler:
        scheduler['T_max'] = max(1, _scale(scheduler['T_max'], old_iters,
                                           new_iters))
    return scheduler


def scale_schedule(cfg: Config, max_iters: int) -> None:
    """Train an iteration-based config for ``max_iters`` with its schedule
    scaled to it (rule in the module docstring), in place.

    Args:
        cfg (Config): Config to edit in place.
        max_iters (int): The new budget.
    """
    old_iters = cfg.train_cfg.get('max_iters')
    if old_iters is None:
        raise ValueError('max_iters needs an iteration-based config '
                         f'(train_cfg has no max_iters: {cfg.train_cfg})')
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    schedulers = cfg.get('param_scheduler') or []
    single = isinstance(schedulers, dict)
    scaled = [
        s if s.get('by_epoch', True) else scale_scheduler(
            s, old_iters, max_iters)
        for s in ([schedulers] if single else schedulers)
    ]
    if schedulers:
        cfg.param_scheduler = scaled[0] if single else scaled
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters + 1
    if cfg.get('default_hooks', {}).get('checkpoint') is not None:
        cfg.default_hooks.checkpoint.interval = max_iters


def skip_validation(cfg: Config) -> None:
    """No validation while training: ``tools/test.py`` evaluates afterwards.

    mmengine's train loops also validate after the last iteration (or epoch)
    whatever ``val_interval`` is; only ``val_begin`` past the end stops
    that.

    Args:
        cfg (Config): Config to edit in place.
    """
    length = cfg.train_cfg.get('max_iters', cfg.train_cfg.get('max_epochs'))
    if length is not None:
        cfg.train_cfg.val_begin = length + 1


def parse_cfg_options(options: Optional[Sequence[str]]) -> Dict[str, Any]:
    """``KEY=VALUE`` strings parsed as the tools' ``--cfg-options`` are."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    if not options:
        return {}
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def build_overfit_config(config: str,
                         data_root: str,
                         ann_file: str,
                         split: str = 'train',
                         max_iters: Optional[int] = None,
                         cfg_options: Optional[Sequence[str]] = None
                         ) -> Config:
    """The config of an overfit run: data paths, classes, schedule, then the
    user's options (which win).

    Args:
        config (str): Config path (relative to the repo root or absolute).
        data_root (str): COCO-format root with the images of ``split``.
        ann_file (str): Annotation file to train and test on (its
            categories give the classes).
        split (str): Image folder name under ``data_root``.
        max_iters (int, optional): New budget; without it a
            ``train_cfg.max_iters`` among ``cfg_options`` is the budget.
        cfg_options (Sequence[str], optional): ``KEY=VALUE`` overrides.

    Returns:
        Config: The final config.
    """
    if not osp.isabs(config):
        config = osp.join(REPO_ROOT, config)
    # The model code is imported by the train/test subprocesses; here only
    # the dicts are edited.
    cfg = Config.fromfile(config, import_custom_modules=False)
    set_data(cfg, osp.abspath(data_root), osp.abspath(ann_file), split)
    set_classes(cfg, read_class_names(ann_file))
    options = parse_cfg_options(cfg_options)
    if max_iters is None and 'train_cfg.max_iters' in options:
        max_iters = int(options['train_cfg.max_iters'])
    if max_iters is not None:
        scale_schedule(cfg, max_iters)
    skip_validation(cfg)
    merge_cfg_options(cfg, options)
    return cfg


def _run(args: List[str], log_file: str) -> str:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run(
        args, cwd=REPO_ROOT, capture_output=True, text=True, env=env)
    output = proc.stdout + proc.stderr
    with open(log_file, 'w') as f:
        f.write(output)
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(args[:3])} failed, see {log_file}:\n'
                           f'{output[-3000:]}')
    return output


def evaluated_kinds(cfg: Config) -> List[str]:
    """The COCO metric kinds (``bbox``, ``segm``) of ``test_evaluator``."""
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    kinds = []
    for evaluator in evaluators:
        metric = evaluator.get('metric', 'bbox')
        kinds += [metric] if isinstance(metric, str) else list(metric)
    return [kind for kind in ('bbox', 'segm') if kind in kinds]


def parse_metrics(output: str,
                  kinds: Sequence[str] = ('bbox', 'segm')
                  ) -> Dict[str, float]:
    """COCO metrics of a ``tools/test.py`` output.

    A model that detects nothing (early in a learning curve) gets AP 0:
    mmdet's ``CocoMetric`` then only logs an error and reports no metric.

    Args:
        output (str): stdout + stderr of the test run.
        kinds (Sequence[str]): The evaluated kinds, for the zeros above.

    Returns:
        dict[str, float]: e.g. ``segm_mAP``, ``segm_mAP_50``,
        ``segm_mAP_75``, ``bbox_mAP``...
    """
    metrics = {
        f'{kind}_mAP{suffix or ""}': float(value)
        for kind, suffix, value in _METRIC.findall(output)
    }
    if not metrics and _NO_DETECTIONS in output:
        metrics = {
            f'{kind}_mAP{suffix}': 0.0
            for kind in kinds for suffix in ('', '_50', '_75')
        }
    return metrics


def overfit(config: str = DEFAULT_CONFIG,
            work_dir: str = 'work_dirs/overfit',
            data_root: str = DEFAULT_DATA,
            split: str = 'train',
            num_images: int = 4,
            max_iters: Optional[int] = None,
            cfg_options: Optional[List[str]] = None,
            categories: Optional[Sequence[str]] = None,
            image_ids: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """Train ``config`` on ``num_images`` images and test on the same ones.

    Args:
        config (str): Config path (relative to the repo root or absolute).
        work_dir (str): Work directory (subset json, final config, logs,
            checkpoint).
        data_root (str): COCO-format root with ``annotations/`` and images.
        split (str): ``'train'`` or ``'val'`` (file and image folder name).
        num_images (int): Images to memorise.
        max_iters (int, optional): Iterations; the LR schedule is scaled
            to them (see the module docstring).
        cfg_options (list[str], optional): Extra ``--cfg-options``, applied
            last.
        categories (Sequence[str], optional): Category names to keep (see
            :func:`write_subset`); the model gets as many classes.
        image_ids (Sequence[int], optional): Images to choose from.

    Returns:
        dict[str, float]: ``segm_mAP``, ``segm_mAP_50``, ``segm_mAP_75``,
        ``bbox_mAP``...
    """
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    data_root = osp.abspath(data_root)
    subset = osp.join(work_dir, f'subset_{split}_{num_images}.json')
    write_subset(
        osp.join(data_root, 'annotations', f'instances_{split}.json'), subset,
        num_images, categories, image_ids)
    cfg = build_overfit_config(config, data_root, subset, split, max_iters,
                               cfg_options)
    # The runners of train.py and test.py dump their config to the same
    # name in the work dir: the file ends as the one test.py ran.
    final_config = osp.join(work_dir, CONFIG_NAME)
    cfg.dump(final_config)
    python = sys.executable
    _run([python, 'tools/train.py', final_config, '--work-dir', work_dir],
         osp.join(work_dir, 'train_stdout.log'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    output = _run([
        python, 'tools/test.py', final_config, checkpoint, '--work-dir',
        work_dir
    ], osp.join(work_dir, 'test_stdout.log'))
    metrics = parse_metrics(output, evaluated_kinds(cfg))
    if 'segm_mAP' not in metrics:
        raise RuntimeError(f'no segm_mAP in the test output:\n'
                           f'{output[-2000:]}')
    return metrics
