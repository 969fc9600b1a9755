"""Learning curves: mask AP on a few memorised images against iterations.

For every config, budget N (``--iters``) and seed, ``tools/misc/overfit.py``'s
loop trains the config for N iterations (schedule scaled to N, classes from
the data) on the first ``--num-images`` annotated images of ``--split`` and
evaluates it on the same images, in
``WORK_DIR/<config stem>/iter<N>[_seed<S>]/``. A finished run leaves
``run.json`` there (its settings and metrics) and is reused by a later call
with the same settings, so an interrupted curve resumes (``--force``
retrains).

The reference is the polar oracle (``polar_oracle.py``: the ground truth
turned into K-ray polygons) on the same images: for a polar model
(``model.bbox_head.num_rays``) with its head's K, ray origin, ray mode and
ray parts; for the others with ``--oracle-rays`` K and the oracle's
defaults. Each distinct oracle is computed once.

Writes ``WORK_DIR/learning_curve.md`` (also printed: one row per config and
budget with segm AP, AP50, AP75, bbox AP, mean ± sample std over seeds when
several, and for polar models the fraction of their oracle's AP),
``WORK_DIR/learning_curve.json`` (all numbers, as :func:`learning_curve`
returns them) and a PNG of segm AP against iterations (one line per config,
error bars with several seeds, the oracles as dashed lines).

Example::

    python tools/analysis_tools/learning_curve.py \\
        projects/PolarNeXt/configs/polarnext_r18_fpn_overfit-coco128-cpu.py \\
        projects/PolarMask/configs/polarmask_r18_fpn_overfit-coco128-cpu.py \\
        --data-root ../shared/data/coco128_seg --iters 100 200 400 800 \\
        --work-dir work_dirs/learning_curve
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # the tool writes files, no display needed
import matplotlib.pyplot as plt  # noqa: E402

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
METRICS = ('segm_mAP', 'segm_mAP_50', 'segm_mAP_75', 'bbox_mAP')
METRIC_TITLES = ('segm AP', 'AP50', 'AP75', 'bbox AP')
RUN_FILE = 'run.json'
DEFAULT_ITERS = (100, 200, 400, 800)
# polar_oracle.run_oracle's defaults (official PolarMask / PolarNeXt).
DEFAULT_ORACLE = dict(num_rays=36, center='centroid', mode='farthest',
                      parts='largest')


def _load_tool(relative_path: str):
    """Import a script under ``tools/`` (not a package) as a module."""
    path = osp.join(REPO_ROOT, relative_path)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


overfit_tool = _load_tool('tools/misc/overfit.py')
polar_oracle = _load_tool('tools/analysis_tools/polar_oracle.py')

from mmengine.config import Config  # noqa: E402

from mmdet_ext.utils import merge_cfg_options  # noqa: E402


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
        ``polar_oracle.run_oracle``, or None when the model has no
        ``bbox_head.num_rays``.
    """
    path = config if osp.isabs(config) else osp.join(REPO_ROOT, config)
    cfg = Config.fromfile(path, import_custom_modules=False)
    merge_cfg_options(cfg, overfit_tool.parse_cfg_options(cfg_options))
    head = cfg.model.get('bbox_head') or {}
    if 'num_rays' not in head:
        return None
    builder = head.get('target_builder') or {}
    coder = builder.get('ray_coder') or {}
    return dict(
        num_rays=head.num_rays,
        center=builder.get('ray_origin') or DEFAULT_ORACLE['center'],
        mode=coder.get('mode') or DEFAULT_ORACLE['mode'],
        parts=builder.get('ray_target_parts') or DEFAULT_ORACLE['parts'])


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
        result = polar_oracle.run_oracle(ann_file, **setting)
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
    metrics = overfit_tool.overfit(config, sub_dir, **settings)
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


def _cell(summary: Optional[dict]) -> str:
    if summary is None:
        return '—'
    if summary['n'] > 1:
        return f"{summary['mean']:.3f} ± {summary['std']:.3f}"
    return f"{summary['mean']:.3f}"


def format_table(result: dict) -> str:
    """Markdown report: settings, one row per (config, budget), oracles."""
    seeds = result['seeds']
    lines = [
        '# Learning curve', '',
        f"{result['num_images']} images of `{result['data_root']}` "
        f"({result['split']}), trained and evaluated on the same images; "
        f"seeds: {', '.join(map(str, seeds)) if seeds else 'config'}"
        + (f"; options: `{' '.join(result['cfg_options'])}`"
           if result['cfg_options'] else '') + '.', '',
        '| config | iters | runs | ' + ' | '.join(METRIC_TITLES) +
        ' | / oracle AP |',
        '| :--- | ---: | ---: | ' + ' | '.join('---:' for _ in METRICS) +
        ' | ---: |'
    ]
    for row in result['rows']:
        fraction = row['oracle_fraction']
        lines.append(
            f"| {row['label']} | {row['iters']} | {row['num_runs']} | " +
            ' | '.join(_cell(row[name]) for name in METRICS) +
            f" | {'—' if fraction is None else f'{fraction:.2f}'} |")
    if result['oracles']:
        lines += ['', 'Polar oracle on the same images (segm AP / AP50 / '
                  'AP75 / mean IoU):', '']
        lines += [
            f"- {o['key']}: {o['AP']:.3f} / {o['AP50']:.3f} / "
            f"{o['AP75']:.3f} / {o['mean_iou']:.3f}"
            for o in result['oracles']
        ]
    return '\n'.join(lines) + '\n'


def plot_curve(result: dict, out_png: str) -> None:
    """segm AP against iterations, one line per config, oracles dashed."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label in dict.fromkeys(row['label'] for row in result['rows']):
        rows = sorted((r for r in result['rows'] if r['label'] == label),
                      key=lambda r: r['iters'])
        rows = [r for r in rows if r['segm_mAP'] is not None]
        xs = [r['iters'] for r in rows]
        ys = [r['segm_mAP']['mean'] for r in rows]
        if any(r['segm_mAP']['n'] > 1 for r in rows):
            ax.errorbar(xs, ys, yerr=[r['segm_mAP']['std'] for r in rows],
                        marker='o', capsize=3, label=label)
        else:
            ax.plot(xs, ys, marker='o', label=label)
    for i, oracle in enumerate(result['oracles']):
        ax.axhline(oracle['AP'], linestyle='--', color=f'C{7 + i % 3}',
                   label=f"oracle {oracle['key']} ({oracle['AP']:.3f})")
    iters = sorted(set(result['iters']))
    if len(iters) > 1:
        # Budgets usually double: equal spacing on a log axis.
        ax.set_xscale('log', base=2)
    ax.set_xticks(iters)
    ax.set_xticklabels([str(i) for i in iters])
    ax.set_ylim(0, 1)
    ax.set_xlabel('training iterations')
    ax.set_ylabel('segm AP (train = test images)')
    ax.set_title(f"Learning curve: {result['num_images']} images, "
                 f"{result['split']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def learning_curve(configs: Sequence[str],
                   data_root: str,
                   iters: Sequence[int] = DEFAULT_ITERS,
                   work_dir: str = 'work_dirs/learning_curve',
                   split: str = 'train',
                   num_images: int = 4,
                   seeds: Optional[Sequence[int]] = None,
                   cfg_options: Optional[Sequence[str]] = None,
                   oracle: bool = True,
                   oracle_rays: int = 36,
                   out_png: Optional[str] = None,
                   force: bool = False) -> dict:
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
        out_png (str, optional): Plot path (default
            ``work_dir/learning_curve.png``).
        force (bool): Retrain runs that already have a result.

    Returns:
        dict: The settings (``data_root``, ``split``, ``num_images``,
        ``iters``, ``seeds``, ``cfg_options``, ``subset``), ``oracles``
        (list of ``key``, ``num_rays``, ``center``, ``mode``, ``parts``,
        ``AP``, ``AP50``, ``AP75``, ``mean_iou``), ``runs`` (list of
        ``config``, ``label``, ``iters``, ``seed``, ``work_dir``,
        ``reused``, ``oracle`` key or None, ``metrics``), ``rows`` (per
        config and budget: ``config``, ``label``, ``iters``, ``num_runs``,
        ``oracle``, ``oracle_fraction`` (mean segm AP / oracle AP, polar
        models only, else None) and, per metric of ``METRICS``, None or
        ``{'mean', 'std', 'n'}``), and the paths ``table``, ``json``,
        ``png``.
    """
    work_dir = osp.abspath(work_dir)
    data_root = osp.abspath(data_root)
    os.makedirs(work_dir, exist_ok=True)
    cfg_options = list(cfg_options or [])
    subset = osp.join(work_dir, f'subset_{split}_{num_images}.json')
    overfit_tool.write_subset(
        osp.join(data_root, 'annotations', f'instances_{split}.json'),
        subset, num_images)
    labels = config_labels(configs)
    polar = {c: oracle_settings(c, cfg_options) for c in configs}
    result = dict(data_root=data_root, split=split, num_images=num_images,
                  iters=list(iters), seeds=list(seeds) if seeds else None,
                  cfg_options=cfg_options, subset=subset, oracles=[],
                  runs=[])
    if oracle:
        references = [
            s or dict(DEFAULT_ORACLE, num_rays=oracle_rays)
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
                         cfg_options=options), force)
                result['runs'].append(dict(
                    config=config, label=label, iters=budget, seed=seed,
                    work_dir=sub_dir, reused=outcome['reused'],
                    oracle=oracle_key(polar[config])
                    if oracle and polar[config] else None,
                    metrics=outcome['metrics']))
    result['rows'] = build_rows(result['runs'], result['oracles'])
    result.update(
        table=osp.join(work_dir, 'learning_curve.md'),
        json=osp.join(work_dir, 'learning_curve.json'),
        png=osp.abspath(out_png or osp.join(work_dir, 'learning_curve.png')))
    with open(result['table'], 'w') as f:
        f.write(format_table(result))
    with open(result['json'], 'w') as f:
        json.dump(result, f, indent=2)
    plot_curve(result, result['png'])
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument('--data-root', default=overfit_tool.DEFAULT_DATA)
    parser.add_argument('--split', default='train')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--iters', type=int, nargs='+',
                        default=list(DEFAULT_ITERS))
    parser.add_argument('--work-dir', default='work_dirs/learning_curve')
    parser.add_argument('--seeds', type=int, nargs='+', default=None,
                        help='randomness.seed of the runs (default: the '
                        "config's seed, one run per budget)")
    parser.add_argument('--cfg-options', nargs='+', default=[])
    parser.add_argument('--oracle-rays', type=int, default=36,
                        help='K of the oracle for configs without a polar '
                        'head (polar models use their own)')
    parser.add_argument('--no-oracle', action='store_true')
    parser.add_argument('--out-png', default=None,
                        help='default: WORK_DIR/learning_curve.png')
    parser.add_argument('--force', action='store_true',
                        help='retrain runs that already have a result')
    args = parser.parse_args(argv)
    if min(args.iters) < 1:
        parser.error('--iters must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    result = learning_curve(
        args.configs, args.data_root, iters=args.iters,
        work_dir=args.work_dir, split=args.split,
        num_images=args.num_images, seeds=args.seeds,
        cfg_options=args.cfg_options, oracle=not args.no_oracle,
        oracle_rays=args.oracle_rays, out_png=args.out_png,
        force=args.force)
    with open(result['table']) as f:
        print(f.read())
    return result


if __name__ == '__main__':
    main()
