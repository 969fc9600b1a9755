"""Where a trained polar model loses mask AP: one factor at a time.

Runs the model once on the config's test set with NMS off and scores
post-processing variants (official box NMS, no NMS, mask NMS, re-scoring
with the true mask IoU) with COCOeval, plus the rays' best IoU per object,
recall, duplicates and false positives; see
:mod:`mmdet_ext.evaluation.polar_diagnosis`. With ``--oracle`` the polar
oracle is scored on the same annotation file.

Example::

    python tools/analysis_tools/diagnose_polar.py CONFIG CHECKPOINT \\
        [--cfg-options ...] [--oracle] [--out-json factors.json]
"""
import argparse
import json
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import DictAction  # noqa: E402

from mmdet_ext.evaluation import diagnose_checkpoint  # noqa: E402
from mmdet_ext.evaluation.polar_diagnosis import METRICS  # noqa: E402


def format_report(result: dict) -> str:
    """Markdown table of the variants and the ray statistics."""
    lines = ['| variant | segm AP | AP50 | AP75 |', '|---|---|---|---|']
    for name, metrics in result['variants'].items():
        lines.append(f'| {name} | ' + ' | '.join(
            f'{metrics[m]:.3f}' for m in METRICS) + ' |')
    if 'oracle' in result:
        o = result['oracle']
        lines.append(f'| oracle ({o["num_rays"]} rays, {o["center"]}) | '
                     f'{o["AP"]:.3f} | {o["AP50"]:.3f} | {o["AP75"]:.3f} |')
    lines.append('')
    lines.append(
        f'objects {result["num_objects"]}, detections/image '
        f'{result["detections_per_image"]:.0f}; best same-class IoU per '
        f'object: mean {result["best_iou_mean"]:.3f}, >=0.5 '
        f'{result["best_iou_at_0_5"]:.3f}, >=0.75 '
        f'{result["best_iou_at_0_75"]:.3f}' +
        (f' (oracle mean IoU {result["oracle"]["mean_iou"]:.3f})'
         if 'oracle' in result else ''))
    lines.append(
        f'official detections: recall@0.5 {result["recall_at_0_5"]:.3f}, '
        f'recall@0.75 {result["recall_at_0_75"]:.3f}, duplicates@0.5 '
        f'{result["duplicates_at_0_5"]}, false positives@0.5 '
        f'{result["false_positives_at_0_5"]}')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument(
        '--oracle', action='store_true', help='also score the polar oracle')
    parser.add_argument('--out-json', help='write the numbers to this file')
    args = parser.parse_args(argv)
    result = diagnose_checkpoint(args.config, args.checkpoint, args.cfg_options, args.oracle)
    print(format_report(result))
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(result, f, indent=2, default=str)
    return result


if __name__ == '__main__':
    main()
