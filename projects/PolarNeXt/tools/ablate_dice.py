"""Ablation: the learnability loop with and without the Dice (soft-mask) loss.

Runs ``overfit.py``'s loop twice on the same images and prints the results side by side.
Not a test: it takes two training runs (about 2 x 5 minutes on 2 CPU cores).

Example::

    python projects/PolarNeXt/tools/ablate_dice.py [--num-images 4] [--max-iters 300]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(
    0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..', 'tools',
                'misc'))
from overfit import DEFAULT_CONFIG, DEFAULT_DATA, overfit  # noqa: E402

VARIANTS = (
    ('with Dice (official)', []),
    ('without Dice', ['model.bbox_head.loss_dice.loss_weight=0.0']),
)
KEYS = ('segm_mAP', 'segm_mAP_50', 'bbox_mAP')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data-root', default=DEFAULT_DATA)
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--max-iters', type=int, default=None)
    parser.add_argument('--work-dir', default='work_dirs/ablate_dice')
    args = parser.parse_args()
    rows = []
    for i, (name, options) in enumerate(VARIANTS):
        metrics = overfit(
            args.config,
            osp.join(args.work_dir, f'variant{i}'),
            args.data_root,
            num_images=args.num_images,
            max_iters=args.max_iters,
            cfg_options=options)
        rows.append((name, metrics))
    print(f'\n{"variant":<24}' + ''.join(f'{k:>14}' for k in KEYS))
    for name, metrics in rows:
        print(f'{name:<24}' +
              ''.join(f'{metrics.get(k, float("nan")):>14.3f}' for k in KEYS))


if __name__ == '__main__':
    main()
