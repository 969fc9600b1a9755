"""ONNX Runtime (CPU) against PyTorch eager (CPU) for a polar detector, in
one run.

Exports the model twice (NMS outside the graph, and in it) and times, per
image, round-robin so that background load hits every row alike:

- **graph**: the exported computation alone, i.e. PyTorch running the
  export wrapper eagerly against ``InferenceSession.run``;
- **end to end**: from the test pipeline's uint8 image to instances with
  COCO RLE masks at the original size: PyTorch's ``model.test_step`` (data
  preprocessor, ``predict``, masks) against
  ``ONNXRuntimeDetector.predict`` (graph, NMS when outside, rescaling,
  ``RLEMasks.from_polygons``).

Without ``--checkpoint`` the weights are random and ``--candidates``
locations are forced above the score threshold (the head's class-0 logit is
calibrated, see ``mmdet_ext.utils.forced_detections.force_detections``), so that
NMS keeps ``max_per_img`` detections as on a crowded image; speed does not
depend on the weights otherwise. Times are medians over ``--repeats`` after
``--warmup`` rounds; the speed-up is PyTorch time / ONNX Runtime time.

Several configs are timed one after the other in the same run. Example::

    python tools/deployment/benchmark_onnx.py --threads 2
    python tools/deployment/benchmark_onnx.py \\
        projects/PolarNeXt/configs/polarnext_r50-torch_fpn_1x_coco.py \\
        projects/PolarMask/configs/polarmask_r50_fpn_1x_coco.py --threads 1
"""
import argparse
import os.path as osp
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _bootstrap  # noqa: E402,F401  (repo on sys.path, registries)
from _benchmark import (Timings, contention_warning,  # noqa: E402
                        environment, fmt_ms, fmt_ratio, format_table,
                        load_average, parse_size, time_round_robin)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from mmdet_ext.deployment import (ONNXRuntimeDetector,  # noqa: E402
                                  build_export_wrapper, export_onnx)
from mmdet_ext.deployment.detector import load_detector  # noqa: E402
from mmdet_ext.utils import merge_cfg_options  # noqa: E402
from mmdet_ext.utils.forced_detections import (  # noqa: E402
    force_detections, raw_batch)

DEFAULT_CONFIG = osp.join(_bootstrap.REPO_ROOT, 'projects', 'PolarNeXt',
                          'configs', 'polarnext_r50-torch_fpn_1x_coco.py')
#: Rows of the table: (label, PyTorch stage, ONNX Runtime stage).
ROWS = [
    ('graph, NMS outside', 'torch graph', 'ort graph'),
    ('graph, NMS in graph', 'torch graph nms', 'ort graph nms'),
    ('end to end to RLE, NMS outside', 'torch e2e', 'ort e2e'),
    ('end to end to RLE, NMS in graph', 'torch e2e', 'ort e2e nms'),
]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='ONNX Runtime vs PyTorch eager on the CPU')
    parser.add_argument(
        'configs',
        nargs='*',
        default=[DEFAULT_CONFIG],
        help='polar model configs, timed one after the other (default: '
        'PolarNeXt R-50 1x)')
    parser.add_argument(
        '--checkpoint',
        help='weights of the (single) config (default: random weights with '
        'forced detections)')
    parser.add_argument(
        '--shape',
        type=parse_size,
        default=(800, 1333),
        help='HEIGHTxWIDTH of the image (default 800x1333)')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='threads of both runtimes (torch.set_num_threads, ONNX Runtime '
        'intra-op threads); default 1')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed rounds (default 5)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed rounds first (default 1)')
    parser.add_argument(
        '--candidates',
        type=int,
        default=1000,
        help='random weights: locations forced above the score threshold')
    parser.add_argument(
        '--static-shape',
        action='store_true',
        help='time static-shape graphs (default: dynamic shape, as '
        'test_onnx.py and the demo need)')
    parser.add_argument(
        '--work-dir',
        help='keep the exported graphs here (default: a temporary folder)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the config (key=value)')
    args = parser.parse_args(argv)
    if args.checkpoint and len(args.configs) != 1:
        parser.error('--checkpoint takes a single config')
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error('--repeats and --threads must be >= 1, --warmup >= 0')
    return args


def build_model(config: str,
                args: argparse.Namespace) -> Tuple[torch.nn.Module, dict]:
    """The detector (random weights with forced detections unless
    ``--checkpoint``) and the batch of one random image it is timed on."""
    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, args.cfg_options)
    torch.manual_seed(0)
    model = load_detector(cfg, args.checkpoint)
    data = raw_batch(args.shape, seed=0)
    if args.checkpoint is None:
        inputs = model.data_preprocessor(data, False)['inputs']
        force_detections(model, inputs, args.candidates)
    return model, data


def export_graphs(model: torch.nn.Module, args: argparse.Namespace,
                  out_dir: str) -> Dict[bool, str]:
    """Export without and with NMS in the graph; {with_nms: path}."""
    paths = {}
    for with_nms in (False, True):
        path = osp.join(out_dir, f'model_nms-{"in" if with_nms else "out"}'
                        '.onnx')
        start = time.perf_counter()
        export_onnx(
            model,
            path,
            shape=args.shape,
            dynamic_shape=not args.static_shape,
            with_nms=with_nms)
        print(f'exported {path} in {time.perf_counter() - start:.0f} s',
              flush=True)
        paths[with_nms] = path
    return paths


def timed_stages(model: torch.nn.Module, data: dict,
                 detectors: Dict[bool, ONNXRuntimeDetector]
                 ) -> Dict[str, Callable[[], int]]:
    """The stages to time; each returns its number of detections."""
    image = data['inputs'][0]
    meta = data['data_samples'][0].metainfo
    batch = image[None].float()
    wrappers = {
        with_nms: build_export_wrapper(model, with_nms=with_nms)
        for with_nms in (False, True)
    }

    def torch_graph(with_nms: bool) -> Callable[[], int]:
        def run() -> int:
            with torch.no_grad():
                return len(wrappers[with_nms](batch)[1])
        return run

    def torch_e2e() -> int:
        with torch.no_grad():
            return len(model.test_step(data)[0].pred_instances)

    def ort_graph(with_nms: bool) -> Callable[[], int]:
        return lambda: len(detectors[with_nms].run(image)['scores'])

    def ort_e2e(with_nms: bool) -> Callable[[], int]:
        return lambda: len(detectors[with_nms].predict(image, meta))

    return {
        'torch graph': torch_graph(False),
        'torch graph nms': torch_graph(True),
        'torch e2e': torch_e2e,
        'ort graph': ort_graph(False),
        'ort graph nms': ort_graph(True),
        'ort e2e': ort_e2e(False),
        'ort e2e nms': ort_e2e(True),
    }


def result_rows(model_name: str, timings: Timings) -> List[List[str]]:
    """Table cells: model and row label, PyTorch ms, ONNX Runtime ms,
    speed-up, outputs (PyTorch / ONNX Runtime)."""
    rows, counts = [], timings.outputs
    for label, torch_stage, ort_stage in ROWS:
        torch_ms, ort_ms = timings.ms(torch_stage), timings.ms(ort_stage)
        rows.append([
            f'{model_name}: {label}',
            fmt_ms(torch_ms),
            fmt_ms(ort_ms),
            fmt_ratio(torch_ms / ort_ms),
            f'{counts[torch_stage]} / {counts[ort_stage]}'
        ])
    return rows


def settings(args: argparse.Namespace) -> str:
    """Image size, weights, graphs and ONNX Runtime version of the run."""
    import onnxruntime
    weights = args.checkpoint or (
        f'random weights, {args.candidates} forced candidates')
    return (f'{args.shape[0]} x {args.shape[1]}, {weights}, '
            f'{"static" if args.static_shape else "dynamic"} shape graphs, '
            f'onnxruntime {onnxruntime.__version__}')


def benchmark_config(config: str, args: argparse.Namespace,
                     out_dir: str) -> List[List[str]]:
    """Export and time one config; its table rows."""
    model, data = build_model(config, args)
    model_name = osp.splitext(osp.basename(config))[0]
    try:
        paths = export_graphs(model, args, osp.join(out_dir, model_name))
        detectors = {
            with_nms: ONNXRuntimeDetector(path, args.threads)
            for with_nms, path in paths.items()
        }
    except (ImportError, ValueError) as err:
        sys.exit(f'error: {err}')
    stages = timed_stages(model, data, detectors)
    timings = time_round_robin(stages, args.repeats, args.warmup,
                               torch.device('cpu'),
                               lambda line: print(line, flush=True))
    return result_rows(model_name, timings)


def main(argv: Optional[Sequence[str]] = None) -> List[List[str]]:
    """Run the benchmark; returns the table rows."""
    args = parse_args(argv)
    for config in args.configs:
        if not osp.isfile(config):
            sys.exit(f'error: config file not found: {config}')
    torch.set_num_threads(args.threads)
    print(f'load average at the start: {load_average()}', flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        for config in args.configs:
            rows += benchmark_config(config, args, args.work_dir or tmp_dir)
    headers = ['per image', 'PyTorch eager (ms)', 'ONNX Runtime (ms)',
               'speed-up', 'outputs (PyTorch / ORT)']
    print(format_table(headers, rows,
                       f'{settings(args)}\n{environment(torch.device("cpu"))}'))
    warning = contention_warning(torch.device('cpu'))
    if warning:
        print(warning)
    print(format_table(headers, rows, markdown=True))
    return rows


if __name__ == '__main__':
    main()
