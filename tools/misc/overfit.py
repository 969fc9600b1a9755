"""Learnability loop: train on a few real images, then evaluate on them.

Trains a config on the first ``--num-images`` annotated images of a split
(classes from the data, schedule scaled to ``--max-iters``) with
``tools/train.py`` and tests it on the same images with ``tools/test.py``;
see :mod:`mmdet_ext.learnability.overfit_loop` for the rules. Prints the
metrics as JSON.

Example::

    python tools/misc/overfit.py \\
        projects/PolarNeXt/configs/polarnext_r18_fpn_overfit-coco128-cpu.py \\
        --data-root data/toy --num-images 4 --max-iters 100
"""
import argparse
import json
import os.path as osp
import sys

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# Names used by projects/PolarNeXt/tools/ablate_dice.py and the tests.
from mmdet_ext.learnability.overfit_loop import (  # noqa: E402,F401
    DEFAULT_CONFIG, DEFAULT_DATA, overfit, parse_cfg_options)


def main():
    """Parse the arguments, run :func:`overfit`, print its metrics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/overfit')
    parser.add_argument('--data-root', default=DEFAULT_DATA)
    parser.add_argument('--split', default='train')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--max-iters', type=int, default=None)
    parser.add_argument('--categories', nargs='+', default=None,
                        metavar='NAME', help='keep only these categories')
    parser.add_argument('--image-ids', type=int, nargs='+', default=None,
                        metavar='ID', help='choose among these images')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    metrics = overfit(args.config, args.work_dir, args.data_root,
                      split=args.split, num_images=args.num_images,
                      max_iters=args.max_iters, cfg_options=args.cfg_options,
                      categories=args.categories, image_ids=args.image_ids)
    print(json.dumps(metrics, indent=2))


if __name__ == '__main__':
    main()
