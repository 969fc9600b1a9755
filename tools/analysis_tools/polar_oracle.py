"""Upper bound of the polar mask representation on a COCO annotation file.

Scores the "perfect" polar prediction of every ground-truth object (its K
rays decoded back into a K-gon) with COCOeval and reports the mask IoUs and
the objects that cannot be represented; the computation is
:func:`mmdet_ext.evaluation.run_oracle` (its module docstring has the
details). This tool parses the arguments, prints the report and writes the
result as strict JSON.

Example::

    python tools/analysis_tools/polar_oracle.py \\
        ../shared/data/coco128_seg/annotations/instances_val.json \\
        --num-rays 36 --center inside --out-json oracle.json
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mmdet_ext.evaluation import SEGM_METRICS, run_oracle  # noqa: E402
from mmdet_ext.evaluation.polar_oracle import PART_CHOICES  # noqa: E402
from mmdet_ext.geometry.ray_origin import ORIGIN_METHODS  # noqa: E402
from mmdet_ext.geometry.ray_targets import RAY_MODES  # noqa: E402


def format_report(result: dict) -> str:
    """Human-readable summary of :func:`run_oracle`'s result."""

    def pct(value: float) -> str:
        return 'n/a' if value != value or value < 0 else f'{100 * value:.1f}'

    lines = [
        f"Polar oracle: {result['ann_file']}",
        f"  K={result['num_rays']} center={result['center']} "
        f"mode={result['mode']} parts={result['parts']}",
        '  ' + '  '.join(f'{name}={pct(result[name])}'
                         for name in SEGM_METRICS),
        f"  mean IoU: predicted {pct(result['mean_iou'])}  all "
        f"{pct(result['mean_iou_all'])}  small "
        f"{pct(result['mean_iou_small'])}  medium "
        f"{pct(result['mean_iou_medium'])}  large "
        f"{pct(result['mean_iou_large'])}",
        f"  objects: {result['num_objects']} non-crowd in "
        f"{result['num_images']} images, {result['num_predicted']} "
        f"predicted, {result['num_invalid']} invalid, "
        f"{result['num_crowd']} crowd skipped",
        f"  RLE objects converted: {result['num_rle_converted']} "
        f"({result['num_rle_without_contour']} without contour); "
        f"unevaluable (not in GT): {result['num_unevaluable']}; GT parts "
        f"< 3 points: {result['num_gt_parts_dropped']}; parts dropped by "
        f"sanitisation: {result['dropped_parts'] or 'none'}",
        f"  origins inside the parts used for the rays: "
        f"{pct(result['origin_inside_fraction'])}%",
        f"  time: geometry {result['time_geometry_s']:.2f} s, COCOeval "
        f"{result['time_eval_s']:.2f} s, total "
        f"{result['time_total_s']:.2f} s",
    ]
    return '\n'.join(lines)


def _json_safe(value):
    """Replace NaN (undefined means) by None so the JSON stays standard."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='COCO mask AP and IoU of the oracle polar masks')
    parser.add_argument('ann_file', help='COCO-format annotation file')
    parser.add_argument('--num-rays', type=int, default=36)
    parser.add_argument(
        '--center', choices=ORIGIN_METHODS, default='centroid')
    parser.add_argument('--mode', choices=RAY_MODES, default='farthest')
    parser.add_argument('--parts', choices=PART_CHOICES, default='largest')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--dtype', choices=('float32', 'float64'), default='float64')
    parser.add_argument('--max-dets', type=int, default=100)
    parser.add_argument('--out-json', help='write the result dict here')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    result = run_oracle(
        args.ann_file,
        num_rays=args.num_rays,
        center=args.center,
        mode=args.mode,
        parts=args.parts,
        device=args.device,
        dtype=getattr(torch, args.dtype),
        max_dets=args.max_dets)
    print(format_report(result))
    if args.out_json:
        Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_json).write_text(
            json.dumps(_json_safe(result), indent=2))
    return result


if __name__ == '__main__':
    main()
