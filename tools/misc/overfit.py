"""Learnability loop: train on a few real images, then evaluate on the same images.

``overfit()`` writes a COCO annotation file with the first ``num_images`` annotated images
of a split, trains the config on it with ``tools/train.py`` and evaluates the checkpoint on
the same images with ``tools/test.py``, all as subprocesses (exactly what a user runs).
It is used by the learnability test and by ``ablate_dice.py``.

Example::

    python tools/misc/overfit.py \
        projects/PolarNeXt/configs/polarnext_r18_fpn_overfit-coco128-cpu.py
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Dict, List, Optional

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
DEFAULT_CONFIG = ('projects/PolarNeXt/configs/'
                  'polarnext_r18_fpn_overfit-coco128-cpu.py')
DEFAULT_DATA = osp.join(REPO_ROOT, '..', 'shared', 'data', 'coco128_seg')
_METRIC = re.compile(r'coco/(segm|bbox)_mAP(_50)?: (-?[0-9.]+)')


def write_subset(ann_file: str, out_file: str, num_images: int) -> List[int]:
    """Keep the first ``num_images`` images that have a non-crowd object.

    Args:
        ann_file (str): Source COCO annotation file.
        out_file (str): Where to write the subset.
        num_images (int): Number of images to keep.

    Returns:
        list[int]: The kept image ids.
    """
    with open(ann_file) as f:
        data = json.load(f)
    with_objects = {
        ann['image_id']
        for ann in data['annotations'] if not ann.get('iscrowd', 0)
    }
    images = [img for img in data['images']
              if img['id'] in with_objects][:num_images]
    keep = {img['id'] for img in images}
    data['images'] = images
    data['annotations'] = [
        ann for ann in data['annotations'] if ann['image_id'] in keep
    ]
    with open(out_file, 'w') as f:
        json.dump(data, f)
    return sorted(keep)


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


def overfit(config: str = DEFAULT_CONFIG,
            work_dir: str = 'work_dirs/overfit',
            data_root: str = DEFAULT_DATA,
            split: str = 'train',
            num_images: int = 4,
            max_iters: Optional[int] = None,
            cfg_options: Optional[List[str]] = None) -> Dict[str, float]:
    """Train ``config`` on ``num_images`` images and test on the same ones.

    Args:
        config (str): Config path (relative to the repo root or absolute).
        work_dir (str): Work directory (subset json, logs, checkpoint).
        data_root (str): COCO-format root with ``annotations/`` and images.
        split (str): ``'train'`` or ``'val'`` (file and image folder name).
        num_images (int): Images to memorise.
        max_iters (int, optional): Override the config's iterations.
        cfg_options (list[str], optional): Extra ``--cfg-options``.

    Returns:
        dict[str, float]: ``segm_mAP``, ``segm_mAP_50``, ``bbox_mAP``...
    """
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    data_root = osp.abspath(data_root)
    subset = osp.join(work_dir, f'subset_{split}_{num_images}.json')
    write_subset(
        osp.join(data_root, 'annotations', f'instances_{split}.json'), subset,
        num_images)
    options = [
        f'data_root={data_root}/',
        f'train_dataloader.dataset.ann_file={subset}',
        f'train_dataloader.dataset.data_prefix.img={split}/',
        f'val_dataloader.dataset.ann_file={subset}',
        f'val_dataloader.dataset.data_prefix.img={split}/',
        f'test_dataloader.dataset.ann_file={subset}',
        f'test_dataloader.dataset.data_prefix.img={split}/',
        f'val_evaluator.ann_file={subset}',
        f'test_evaluator.ann_file={subset}',
    ] + list(cfg_options or [])
    if max_iters is not None:
        options += [f'train_cfg.max_iters={max_iters}']
    python = sys.executable
    _run([
        python, 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options', *options
    ], osp.join(work_dir, 'train_stdout.log'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    output = _run([
        python, 'tools/test.py', config, checkpoint, '--work-dir', work_dir,
        '--cfg-options', *options
    ], osp.join(work_dir, 'test_stdout.log'))
    metrics = {
        f'{kind}_mAP{suffix or ""}': float(value)
        for kind, suffix, value in _METRIC.findall(output)
    }
    if 'segm_mAP' not in metrics:
        raise RuntimeError(f'no segm_mAP in the test output:\n'
                           f'{output[-2000:]}')
    return metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/overfit')
    parser.add_argument('--data-root', default=DEFAULT_DATA)
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--max-iters', type=int, default=None)
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    metrics = overfit(args.config, args.work_dir, args.data_root,
                      num_images=args.num_images, max_iters=args.max_iters,
                      cfg_options=args.cfg_options)
    print(json.dumps(metrics, indent=2))


if __name__ == '__main__':
    main()
