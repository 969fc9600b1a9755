"""Plot of a learning curve (``tools/analysis_tools/learning_curve.py``):
segm AP against training iterations, with the polar oracle's ceiling."""
from typing import List

import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def _config_series(ax: Axes, label: str, rows: List[dict]) -> None:
    """One config's segm AP against its budgets; error bars (sample std)
    when a budget has several seeds."""
    rows = sorted((r for r in rows if r['segm_mAP'] is not None),
                  key=lambda r: r['iters'])
    xs = [r['iters'] for r in rows]
    ys = [r['segm_mAP']['mean'] for r in rows]
    if any(r['segm_mAP']['n'] > 1 for r in rows):
        ax.errorbar(xs, ys, yerr=[r['segm_mAP']['std'] for r in rows],
                    marker='o', capsize=3, label=label)
    else:
        ax.plot(xs, ys, marker='o', label=label)


def plot_learning_curve(result: dict, out_png: str) -> None:
    """segm AP against iterations: one line per config, the oracles as
    dashed horizontal lines, budgets on a log2 axis.

    Args:
        result (dict): A result of
            :func:`mmdet_ext.learnability.collect_learning_curve`: its
            ``rows`` (``label``, ``iters`` and the ``segm_mAP`` summary
            ``{'mean', 'std', 'n'}`` or None), ``oracles`` (``key``,
            ``AP``), ``iters``, ``num_images`` and ``split``.
        out_png (str): Path of the PNG to write.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label in dict.fromkeys(row['label'] for row in result['rows']):
        _config_series(ax, label,
                       [r for r in result['rows'] if r['label'] == label])
    for i, oracle in enumerate(result['oracles']):
        # Colours C7-C9 stay clear of the first configs' C0, C1, ...
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
