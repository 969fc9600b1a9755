"""COCO evaluation of an exported graph in ONNX Runtime.

Runs the config's test dataloader and ``test_evaluator`` (``CocoMetric``)
as ``tools/test.py`` does, with the instances of
``mmdet_ext.deployment.ONNXRuntimeDetector`` (RLE masks from the graph's
polygons). With ``--checkpoint`` the PyTorch model is evaluated on the same
batches and both are printed side by side; ``--tolerance`` then makes the
run fail when their segm AP differs by more.

Example::

    python tools/deployment/test_onnx.py \\
        projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py \\
        work_dirs/polarnext.onnx \\
        --checkpoint work_dirs/quickstart/epoch_36.pth \\
        --tolerance 0.001
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _benchmark import format_table  # noqa: E402
from _bootstrap import load_config  # noqa: E402

from mmengine.config import DictAction  # noqa: E402

from mmdet_ext.deployment import ONNXRuntimeDetector  # noqa: E402
from mmdet_ext.deployment.detector import (import_config_modules,  # noqa
                                           load_detector)
from mmdet_ext.deployment.evaluation import (evaluate,  # noqa: E402
                                             onnx_predictor,
                                             pytorch_predictor)
from mmdet_ext.utils import DataCheckError, check_datasets  # noqa: E402

#: The metric that --tolerance checks.
SEGM_AP = 'coco/segm_mAP'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate an exported graph with ONNX Runtime')
    parser.add_argument('config', help='config file (test set, evaluator)')
    parser.add_argument('model', help='.onnx file from pytorch2onnx.py')
    parser.add_argument(
        '--checkpoint',
        help='also evaluate this PyTorch checkpoint on the same batches')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=None,
        help=f'with --checkpoint: fail when {SEGM_AP} of the two differs '
        'by more than this (e.g. 0.001)')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='ONNX Runtime intra-op threads (default: one per core)')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument(
        '--skip-data-check',
        action='store_true',
        help='do not check that annotation files and images exist')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the config (key=value); '
        'data_root=... also moves the datasets and evaluators')
    args = parser.parse_args(argv)
    if args.tolerance is not None and not args.checkpoint:
        parser.error('--tolerance needs --checkpoint')
    return args


def metrics_table(metrics: Dict[str, Dict[str, float]]) -> str:
    """The metrics of each run side by side, with the difference of the
    first two."""
    names = list(metrics)
    keys = [k for k in metrics[names[0]] if k.endswith('mAP') or '_mAP_' in k]
    headers = ['metric', *names] + (['difference'] if len(names) == 2 else [])
    rows = []
    for key in keys:
        values = [metrics[name].get(key, float('nan')) for name in names]
        row = [key, *(f'{v:.4f}' for v in values)]
        if len(names) == 2:
            row.append(f'{values[0] - values[1]:+.4f}')
        rows.append(row)
    return format_table(headers, rows, 'COCO metrics')


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, float]]:
    """Evaluate; returns the metrics by run name."""
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.model, 'ONNX model'),
                       (args.checkpoint, 'checkpoint')):
        if path is not None and not osp.isfile(path):
            sys.exit(f'error: {what} file not found: {path}')
    cfg = load_config(argparse.Namespace(
        config=args.config, cfg_options=args.cfg_options, launcher='none'))
    import_config_modules(cfg)
    if not args.skip_data_check:
        try:
            check_datasets(cfg, ('test_dataloader', ))
        except DataCheckError as err:
            sys.exit(f'error: {err}')
    try:
        predictors = {
            'ONNX Runtime':
            onnx_predictor(ONNXRuntimeDetector(args.model, args.threads))
        }
        if args.checkpoint:
            predictors['PyTorch'] = pytorch_predictor(
                load_detector(cfg, args.checkpoint))
    except (ImportError, ValueError) as err:
        sys.exit(f'error: {err}')
    metrics = evaluate(cfg, predictors)
    print(metrics_table(metrics))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)
    if args.tolerance is not None:
        gap = abs(metrics['ONNX Runtime'][SEGM_AP] -
                  metrics['PyTorch'][SEGM_AP])
        verdict = 'within' if gap <= args.tolerance else 'exceeds'
        print(f'{SEGM_AP}: |ONNX Runtime - PyTorch| = {gap:.4f} {verdict} '
              f'the tolerance {args.tolerance}')
        if gap > args.tolerance:
            sys.exit(1)
    return metrics


if __name__ == '__main__':
    main()
