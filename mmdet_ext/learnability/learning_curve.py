"""Learning curves: mask AP on a few memorised images against iterations
(the core of ``tools/analysis_tools/learning_curve.py``).

For every config, budget N and seed, :func:`~.overfit_loop.overfit` trains the
config for N iterations on the first ``num_images`` annotated images of a
split and evaluates it on the same images, in
``WORK_DIR/<config stem>/iter<N>[_seed<S>]/``. A finished run leaves
``run.json`` there (its settings and metrics) and is reused by a later call
with the same settings, so an interrupted curve resumes (``force``
retrains).

The reference is the polar oracle
(:func:`mmdet_ext.evaluation.run_oracle`: the ground truth turned into
K-ray polygons) on the same images: for a polar model
(``model.bbox_head.num_rays``) with its head's K, ray origin, ray mode and
ray parts; for the others with ``oracle_rays`` K and the oracle's
defaults. Each distinct oracle is computed once.
"""
import json
import os
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from mmdet_ext.evaluation.polar_oracle import (DEFAULT_SETTINGS,
                                               polar_head_settings,
                                               run_oracle)
from mmdet_ext.utils.config_utils import merge_cfg_options
from .overfit_loop import REPO_ROOT, overfit, parse_cfg_options, write_subset

METRICS = ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75', 'bbox_mAP')
RUN_FILE = 'run.json'
DEFAULT_ITERS = (100, 200, 400, 800)


def config_labels(configs: Sequence[str]) -> List[str]:
    """Short labels: the config file stems, numbered when two coincide."""
    stems = [osp.splitext(osp.basename(c))[0] for c in configs]
    return [
        stem if stems.count(stem) == 1 else f'{stem}-{i}'
        for i, stem in enumerate(stems)
    ]


def oracle_settings(config: str,
                    cfg_options: Optional[Sequence[str]] = None
                    ) -> Optional[dict]:
    """The oracle matching a config's polar head, or None for other models.

    Args:
        config (str): Config path (relative to the repo root or absolute).
        cfg_options (Sequence[str], optional): The runs' ``--cfg-options``
            (they may change the head).

    Returns:
        dict | None: ``num_rays``, ``center``, ``mode`` and ``parts`` for
        ``run_oracle``, or None when the model has no
        ``bbox_head.num_rays``.
    """
    path = config if osp.isabs(config) else osp.join(REPO_ROOT, config)
    cfg = Config.fromfile(path, import_custom_modules=False)
    merge_cfg_options(cfg, parse_cfg_options(cfg_options))
    return polar_head_settings(cfg.model)


def oracle_key(settings: dict) -> str:
    """Identifier of an oracle setting, e.g.
    ``K36-centroid-farthest-largest``."""
    return (f"K{settings['num_rays']}-{settings['center']}-"
            f"{settings['mode']}-{settings['parts']}")


def compute_oracles(ann_file: str, settings: Sequence[dict]) -> List[dict]:
    """Run the polar oracle once per distinct setting.

    Args:
        ann_file (str): The subset annotation file the models train on.
        settings (Sequence[dict]): Oracle settings (duplicates allowed).

    Returns:
        list[dict]: Per distinct setting: ``key``, the setting, ``AP``,
        ``AP50``, ``AP75`` and ``mean_iou`` of the oracle.
    """
    oracles: Dict[str, dict] = {}
    for setting in settings:
        key = oracle_key(setting)
        if key in oracles:
            continue
        result = run_oracle(ann_file, **setting)
        oracles[key] = dict(
            key=key, **setting,
            **{name: result[name]
               for name in ('AP', 'AP50', 'AP75', 'mean_iou')})
    return list(oracles.values())


def run_dir(work_dir: str, label: str, iters: int,
            seed: Optional[int]) -> str:
    """Work sub-directory of one run."""
    name = f'iter{iters}' if seed is None else f'iter{iters}_seed{seed}'
    return osp.join(work_dir, label, name)


def train_or_reuse(config: str, sub_dir: str, settings: dict,
                   force: bool = False) -> dict:
    """Metrics of one overfit run, reused from ``sub_dir/run.json`` when it
    was made with the same settings.

    Args:
        config (str): Config path.
        sub_dir (str): The run's work directory.
        settings (dict): ``data_root``, ``split``, ``num_images``,
            ``max_iters`` and ``cfg_options`` of :func:`overfit`.
        force (bool): Retrain even if a matching result exists.

    Returns:
        dict: ``metrics`` and ``reused`` (bool).
    """
    run_file = osp.join(sub_dir, RUN_FILE)
    record = dict(config=osp.abspath(config), **settings)
    if not force and osp.isfile(run_file):
        with open(run_file) as f:
            previous = json.load(f)
        # A result of other settings (e.g. another data root) is stale.
        if previous.get('settings') == record:
            return dict(metrics=previous['metrics'], reused=True)
    metrics = overfit(config, sub_dir, **settings)
    os.makedirs(sub_dir, exist_ok=True)
    with open(run_file, 'w') as f:
        json.dump(dict(settings=record, metrics=metrics), f, indent=2)
    return dict(metrics=metrics, reused=False)


def summarise(values: Sequence[Optional[float]]) -> Optional[dict]:
    """Mean and sample std (0 for one value) of the available values."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return dict(mean=statistics.fmean(values), std=std, n=len(values))


def build_rows(runs: Sequence[dict], oracles: Sequence[dict]) -> List[dict]:
    """One row per (config, budget): metrics over seeds and the fraction of
    the oracle's AP for polar models."""
    oracle_ap = {o['key']: o['AP'] for o in oracles}
    rows: Dict[tuple, dict] = {}
    for run in runs:
        row = rows.setdefault((run['label'], run['iters']), dict(
            config=run['config'], label=run['label'], iters=run['iters'],
            oracle=run['oracle'], runs=[]))
        row['runs'].append(run['metrics'])
    for row in rows.values():
        for name in METRICS:
            row[name] = summarise([m.get(name) for m in row['runs']])
        ap = oracle_ap.get(row['oracle'])
        row['oracle_fraction'] = (row['segm_mAP']['mean'] / ap
                                  if ap and row['segm_mAP'] else None)
        row['num_runs'] = len(row.pop('runs'))
    return list(rows.values())


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def collect_learning_curve(configs: Sequence[str],
                   data_root: str,
                   iters: Sequence[int] = DEFAULT_ITERS,
                   work_dir: str = 'work_dirs/learning_curve',
                   split: str = 'train',
                   num_images: int = 4,
                   seeds: Optional[Sequence[int]] = None,
                   cfg_options: Optional[Sequence[str]] = None,
                   oracle: bool = True,
                   oracle_rays: int = 36,
                   force: bool = False,
                   categories: Optional[Sequence[str]] = None,
                   image_ids: Optional[Sequence[int]] = None) -> dict:
    """Train every config for every budget (and seed) and collect the APs.

    Args:
        configs (Sequence[str]): Config paths.
        data_root (str): COCO-format root with
            ``annotations/instances_{split}.json`` and ``{split}/``.
        iters (Sequence[int]): Training budgets (iterations).
        work_dir (str): Output directory (one sub-directory per run).
        split (str): Split to memorise.
        num_images (int): Images to memorise.
        seeds (Sequence[int], optional): ``randomness.seed`` of the runs;
            None keeps the config's seed (one run per budget).
        cfg_options (Sequence[str], optional): ``KEY=VALUE`` options of
            every run.
        oracle (bool): Compute the polar oracle references.
        oracle_rays (int): K of the oracle for configs without a polar head.
        force (bool): Retrain runs that already have a result.
        categories (Sequence[str], optional): Category names to keep (a
            one-class set out of a many-class one; see
            :func:`~mmdet_ext.learnability.overfit_loop.write_subset`).
        image_ids (Sequence[int], optional): Images to choose from.

    Returns:
        dict: The settings (``data_root``, ``split``, ``num_images``,
        ``categories``, ``image_ids``,
        ``iters``, ``seeds``, ``cfg_options``, ``subset``), ``oracles``
        (list of ``key``, ``num_rays``, ``center``, ``mode``, ``parts``,
        ``AP``, ``AP50``, ``AP75``, ``mean_iou``), ``runs`` (list of
        ``config``, ``label``, ``iters``, ``seed``, ``work_dir``,
        ``reused``, ``oracle`` key or None, ``metrics``), ``rows`` (per
        config and budget: ``config``, ``label``, ``iters``, ``num_runs``,
        ``oracle``, ``oracle_fraction`` (mean segm AP / oracle AP, polar
        models only, else None) and, per metric of ``METRICS``, None or
        ``{'mean', 'std', 'n'}``).
    """
    work_dir = osp.abspath(work_dir)
    data_root = osp.abspath(data_root)
    os.makedirs(work_dir, exist_ok=True)
    cfg_options = list(cfg_options or [])
    subset = osp.join(work_dir, f'subset_{split}_{num_images}.json')
    write_subset(
        osp.join(data_root, 'annotations', f'instances_{split}.json'),
        subset, num_images, categories, image_ids)
    # Only given subset options enter a run's settings, so the results of
    # earlier curves (made without them) stay reusable.
    subset_options = {
        key: list(value)
        for key, value in (('categories', categories),
                           ('image_ids', image_ids)) if value is not None
    }
    labels = config_labels(configs)
    polar = {c: oracle_settings(c, cfg_options) for c in configs}
    result = dict(data_root=data_root, split=split, num_images=num_images,
                  categories=subset_options.get('categories'),
                  image_ids=subset_options.get('image_ids'),
                  iters=list(iters), seeds=list(seeds) if seeds else None,
                  cfg_options=cfg_options, subset=subset, oracles=[],
                  runs=[])
    if oracle:
        references = [
            s or dict(DEFAULT_SETTINGS, num_rays=oracle_rays)
            for s in polar.values()
        ]
        result['oracles'] = compute_oracles(subset, references)
    for config, label in zip(configs, labels):
        for budget in iters:
            for seed in (seeds or [None]):
                sub_dir = run_dir(work_dir, label, budget, seed)
                options = cfg_options + ([] if seed is None else
                                         [f'randomness.seed={seed}'])
                _log(f'{label}: {budget} iterations'
                     + ('' if seed is None else f', seed {seed}'))
                outcome = train_or_reuse(
                    config, sub_dir,
                    dict(data_root=data_root, split=split,
                         num_images=num_images, max_iters=budget,
                         cfg_options=options, **subset_options), force)
                result['runs'].append(dict(
                    config=config, label=label, iters=budget, seed=seed,
                    work_dir=sub_dir, reused=outcome['reused'],
                    oracle=oracle_key(polar[config])
                    if oracle and polar[config] else None,
                    metrics=outcome['metrics']))
    result['rows'] = build_rows(result['runs'], result['oracles'])
    return result
