"""Learning curves: mask AP on a few memorised images against iterations.

Trains every config for every budget (``--iters``) and seed on the first
``--num-images`` annotated images of ``--split`` and evaluates it on the
same images, against the polar oracle of those images; finished runs are
reused, so an interrupted curve resumes (``--force`` retrains). The runs
and oracles are :func:`mmdet_ext.learnability.collect_learning_curve`.

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
import json
import os.path as osp
import sys
from typing import Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # the tool writes files, no display needed

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _benchmark  # noqa: E402  (tables)
import _bootstrap  # noqa: E402,F401  (repo on sys.path)

from mmdet_ext.learnability import collect_learning_curve  # noqa: E402
from mmdet_ext.learnability.learning_curve import (  # noqa: E402
    DEFAULT_ITERS, METRICS)
from mmdet_ext.learnability.overfit_loop import DEFAULT_DATA  # noqa: E402
from mmdet_ext.visualization.learning_curve_plot import (  # noqa: E402
    plot_learning_curve)

METRIC_TITLES = ('segm AP', 'AP50', 'AP75', 'bbox AP')


def _cell(summary: Optional[dict]) -> str:
    """'mean' or 'mean ± std' of a metric summary, '—' without one."""
    if summary is None:
        return '—'
    if summary['n'] > 1:
        return f"{summary['mean']:.3f} ± {summary['std']:.3f}"
    return f"{summary['mean']:.3f}"


def _settings(result: dict) -> str:
    """One sentence: the memorised images, the seeds and the options."""
    seeds = result['seeds']
    options = (f"; options: `{' '.join(result['cfg_options'])}`"
               if result['cfg_options'] else '')
    subset = ''
    if result.get('categories'):
        subset += f" ({', '.join(result['categories'])} only)"
    if result.get('image_ids'):
        subset += f" among ids {', '.join(map(str, result['image_ids']))}"
    return (f"{result['num_images']} images{subset} of "
            f"`{result['data_root']}` ({result['split']}), trained and "
            'evaluated on the same images; '
            f"seeds: {', '.join(map(str, seeds)) if seeds else 'config'}"
            f'{options}.')


def format_report(result: dict) -> str:
    """Markdown report: settings, one row per (config, budget), oracles."""
    rows = [[
        row['label'], row['iters'], row['num_runs'],
        *(_cell(row[name]) for name in METRICS),
        _benchmark.fmt_value(row['oracle_fraction'], '.2f')
    ] for row in result['rows']]
    # A blank line after the title: Markdown starts a table on its own.
    lines = [
        _benchmark.format_table(
            ['config', 'iters', 'runs', *METRIC_TITLES, '/ oracle AP'],
            rows, f'# Learning curve\n\n{_settings(result)}\n',
            markdown=True)
    ]
    if result['oracles']:
        lines += ['', 'Polar oracle on the same images (segm AP / AP50 / '
                  'AP75 / mean IoU):', '']
        lines += [
            f"- {o['key']}: {o['AP']:.3f} / {o['AP50']:.3f} / "
            f"{o['AP75']:.3f} / {o['mean_iou']:.3f}"
            for o in result['oracles']
        ]
    return '\n'.join(lines) + '\n'


def learning_curve(configs: Sequence[str],
                   data_root: str,
                   work_dir: str = 'work_dirs/learning_curve',
                   out_png: Optional[str] = None,
                   **options) -> dict:
    """Run (or resume) the curve and write its table, JSON and plot.

    Args:
        configs (Sequence[str]): Config paths.
        data_root (str): COCO-format root of the memorised images.
        work_dir (str): Output directory (one sub-directory per run).
        out_png (str, optional): Plot path (default
            ``work_dir/learning_curve.png``).
        **options: ``iters``, ``split``, ``num_images``, ``seeds``,
            ``cfg_options``, ``oracle``, ``oracle_rays`` and ``force`` of
            :func:`mmdet_ext.learnability.collect_learning_curve`.

    Returns:
        dict: :func:`~mmdet_ext.learnability.collect_learning_curve`'s
        result and the paths ``table``, ``json`` and ``png``.
    """
    result = collect_learning_curve(configs, data_root, work_dir=work_dir,
                                    **options)
    work_dir = osp.abspath(work_dir)
    result.update(
        table=osp.join(work_dir, 'learning_curve.md'),
        json=osp.join(work_dir, 'learning_curve.json'),
        png=osp.abspath(out_png or osp.join(work_dir, 'learning_curve.png')))
    with open(result['table'], 'w') as f:
        f.write(format_report(result))
    with open(result['json'], 'w') as f:
        json.dump(result, f, indent=2)
    plot_learning_curve(result, result['png'])
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command-line options (``--iters`` >= 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument('--data-root', default=DEFAULT_DATA)
    parser.add_argument('--split', default='train')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--categories', nargs='+', default=None,
                        metavar='NAME',
                        help='keep only these categories (e.g. person: a '
                        'one-class set out of COCO)')
    parser.add_argument('--image-ids', type=int, nargs='+', default=None,
                        metavar='ID', help='choose among these images')
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
    """Parse the arguments, run the curve, print its table."""
    args = parse_args(argv)
    result = learning_curve(
        args.configs, args.data_root, iters=args.iters,
        work_dir=args.work_dir, split=args.split,
        num_images=args.num_images, seeds=args.seeds,
        cfg_options=args.cfg_options, oracle=not args.no_oracle,
        oracle_rays=args.oracle_rays, out_png=args.out_png,
        force=args.force, categories=args.categories,
        image_ids=args.image_ids)
    with open(result['table']) as f:
        print(f.read())
    return result


if __name__ == '__main__':
    main()
