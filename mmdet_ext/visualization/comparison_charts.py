"""Charts of the model comparison (``tools/analysis_tools/compare_models.py``):
ratios to the reference model, and segm AP against FPS."""
from typing import List

import matplotlib.pyplot as plt
import numpy as np


def ratio_chart(numbers: List[dict], path: str) -> None:
    """Horizontal grouped bars of the ratios to the reference model."""
    ref = next(n['label'] for n in numbers if n['reference'])
    series = (('inference_ratio', 'inference time'),
              ('train_ratio', 'training step time'),
              ('memory_ratio', 'training peak memory'))
    labels = [n['label'] for n in numbers]
    y = np.arange(len(numbers))
    height = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(numbers) + 1.5))
    for i, (key, name) in enumerate(series):
        values = [n[key] if n[key] is not None else 0.0 for n in numbers]
        bars = ax.barh(y + (i - 1) * height, values, height, label=name)
        for bar, value, n in zip(bars, values, numbers):
            if n[key] is not None:
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                        f' {value:.2f}', va='center', fontsize=7)
    ax.axvline(1.0, color='k', linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_xlabel(f'ratio to {ref} (lower is better)')
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.1), ncol=3,
              fontsize=8)
    ax.set_title('Speed and memory relative to ' + ref)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def speed_accuracy_plot(numbers: List[dict], path: str,
                        xlabel: str) -> int:
    """AP against FPS; polar models also show their polygons-only FPS
    (hollow marker, dashed link). Returns the number of models drawn."""
    fig, ax = plt.subplots(figsize=(7, 5))
    drawn = 0
    for n in numbers:
        if n['segm_mAP'] is None:
            continue
        ap = 100 * n['segm_mAP']
        color = f'C{drawn}'
        ax.scatter(n['fps'], ap, s=60, color=color, zorder=3)
        ax.annotate(n['label'], (n['fps'], ap), textcoords='offset points',
                    xytext=(6, 4), fontsize=8)
        fast = next((m for m in numbers if m['model'] == n['model']
                     and m['mask_output'] is False), None)
        if fast is not None:
            ax.scatter(fast['fps'], ap, s=60, facecolors='none',
                       edgecolors=color, zorder=3)
            ax.plot([n['fps'], fast['fps']], [ap, ap], '--', color=color,
                    linewidth=0.8)
        drawn += 1
    ax.set_xlabel(xlabel)
    ax.set_ylabel('mask AP')
    ax.set_title('Speed / accuracy (hollow: polygons only, no mask '
                 'generation)')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn
