"""Export a detector (PolarNeXt, PolarMask, SparseInst) to ONNX.

For the polar models the graph runs data preprocessing, backbone, neck,
head, score threshold, top-k, ray decoding and, with ``--with-nms``,
class-aware NMS and ``max_per_img``. It takes one image ``image`` (1, 3, H, W) float32 as the
config's test pipeline yields it (resized, loader channel order, values in
[0, 255]) and returns ``boxes`` (n, 4), ``scores`` (n, ), ``labels`` (n, ),
``polygons`` (n, K, 2) and ``origins`` (n, 2) in the coordinates of that
image. Rescaling to the original image, NMS without ``--with-nms`` and RLE
masks run outside (``mmdet_ext.deployment.ONNXRuntimeDetector``, used by
``tools/deployment/test_onnx.py`` and ``demo/onnx_demo.py``). SparseInst's
graph is NMS-free (``--with-nms`` is ignored) and returns ``scores``,
``labels`` and ``mask_probs`` (n, H/4, W/4) of the padded input; masks are
upsampled, binarised and RLE-encoded outside
(``projects/SparseInst/sparseinst/deploy.py``).

Example::

    python tools/deployment/pytorch2onnx.py \\
        projects/PolarNeXt/configs/polarnext_r18_fpn_toy-cpu.py \\
        work_dirs/quickstart/epoch_36.pth --out work_dirs/polarnext.onnx \\
        --dynamic-shape --verify
"""
import argparse
import os.path as osp
import sys
import time
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _benchmark import parse_size  # noqa: E402
from _bootstrap import load_config  # noqa: E402

import torch  # noqa: E402

from mmdet_ext.deployment import ONNXRuntimeDetector, export_onnx  # noqa
from mmdet_ext.deployment.detector import (dataset_meta,  # noqa: E402
                                           load_detector)
from mmdet_ext.deployment.onnx_export import dataset_metadata  # noqa: E402
from mmdet_ext.utils.forced_detections import raw_batch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a detector to ONNX')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument(
        '--shape',
        type=parse_size,
        default=(800, 1333),
        help='HEIGHTxWIDTH of the input of a static graph; the example to '
        'trace with for a dynamic one (default 800x1333)')
    parser.add_argument(
        '--dynamic-shape',
        action='store_true',
        help='accept any input height and width (from the largest stride '
        '+ 1 to 4096); test_onnx.py and the demo need it for images of '
        'different sizes')
    parser.add_argument(
        '--with-nms',
        action='store_true',
        help='put class-aware NMS and max_per_img into the graph (ONNX '
        'NonMaxSuppression); without it the graph returns every candidate '
        'above score_thr and NMS runs outside')
    parser.add_argument(
        '--opset', type=int, default=None, help='ONNX opset (default: the '
        "exporter's, 18)")
    parser.add_argument(
        '--verify',
        action='store_true',
        help='run the graph in ONNX Runtime on a random image of --shape and '
        'print the largest differences to the PyTorch model')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the config (key=value), e.g. '
        'model.test_cfg.score_thr=0.1')
    return parser.parse_args(argv)


def verify(model: torch.nn.Module, onnx_file: str, shape) -> dict:
    """Largest absolute differences between ONNX Runtime and PyTorch on a
    random image (empty dict when the detections differ in number).

    Random images of a trained model may yield no detection: the check
    then only compares the counts.
    """
    data = raw_batch(shape, seed=0)
    with torch.no_grad():
        expected = model.test_step(data)[0].pred_instances
    detector = ONNXRuntimeDetector(onnx_file)
    got = detector.predict(data['inputs'][0], data['data_samples'][0].metainfo)
    print(f'verify: {len(expected)} detections in PyTorch, {len(got)} in '
          'ONNX Runtime')
    if len(expected) != len(got) or not len(got):
        return {}
    diffs = {
        key: float((expected[key].float() - got[key].float()).abs().max())
        for key in ('scores', 'labels', 'bboxes', 'polygons', 'origins')
        if key in expected and key in got
    }
    print('verify: max abs difference ' + ', '.join(
        f'{key} {value:.2e}' for key, value in diffs.items()))
    return diffs


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Export; returns the metadata written into the graph."""
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                  'checkpoint')):
        if not osp.isfile(path):
            sys.exit(f'error: {what} file not found: {path}')
    cfg = load_config(argparse.Namespace(
        config=args.config, cfg_options=args.cfg_options, launcher='none'))
    try:
        model = load_detector(cfg, args.checkpoint)
    except ValueError as err:
        sys.exit(f'error: {err}')
    meta = dataset_meta(cfg, model)
    start = time.perf_counter()
    try:
        metadata = export_onnx(
            model,
            args.out,
            shape=args.shape,
            dynamic_shape=args.dynamic_shape,
            with_nms=args.with_nms,
            opset=args.opset,
            extra_metadata=dict(
                dataset_metadata(meta.get('classes'), meta.get('palette')),
                config=osp.basename(args.config),
                checkpoint=osp.basename(args.checkpoint)))
    except (ImportError, ValueError) as err:
        sys.exit(f'error: {err}')
    print(f'exported {metadata["wrapper"]} '
          f'({"NMS in the graph" if metadata["with_nms"] else "NMS outside"}'
          f', {"dynamic" if args.dynamic_shape else "static"} shape) to '
          f'{args.out} in {time.perf_counter() - start:.0f} s')
    if args.verify:
        verify(model, args.out, args.shape)
    return metadata


if __name__ == '__main__':
    main()
