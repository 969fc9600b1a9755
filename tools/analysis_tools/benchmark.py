# MMDetection's benchmark tool; `--task inference` runs on CPU as well as
# CUDA (see mmdet_ext/utils/benchmark.py). Usage is unchanged, plus --device,
# --num-threads and, for polar models, --mask-output: by default every image
# is timed without and with the polygon-to-mask step (test_cfg.mask_output
# False / True) and both FPS are reported.
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import add_common_args  # noqa: E402
from _bootstrap import parse_args as parse_common  # noqa: E402
from mmengine import MMLogger  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dist import init_dist  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402

from mmdet.utils.benchmark import (DataLoaderBenchmark,  # noqa: E402
                                   DatasetBenchmark)
from mmdet_ext.utils import merge_cfg_options  # noqa: E402
from mmdet_ext.utils.benchmark import DeviceInferenceBenchmark  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(description='MMDet benchmark')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('--checkpoint', help='checkpoint file')
    parser.add_argument(
        '--task',
        choices=['inference', 'dataloader', 'dataset'],
        default='dataloader',
        help='Which task do you want to go to benchmark')
    parser.add_argument(
        '--repeat-num',
        type=int,
        default=1,
        help='number of repeat times of measurement for averaging the results')
    parser.add_argument(
        '--max-iter', type=int, default=2000, help='num of max iter')
    parser.add_argument(
        '--log-interval', type=int, default=50, help='interval of logging')
    parser.add_argument(
        '--num-warmup', type=int, default=5, help='Number of warmup')
    parser.add_argument(
        '--fuse-conv-bn',
        action='store_true',
        help='Whether to fuse conv and bn, this will slightly increase'
        'the inference speed')
    parser.add_argument(
        '--device',
        default=None,
        help='inference device (default: cuda if available, else cpu)')
    parser.add_argument(
        '--num-threads',
        type=int,
        default=None,
        help='torch threads for CPU inference (default: torch default)')
    parser.add_argument(
        '--mask-output',
        choices=['both', 'on', 'off'],
        default='both',
        help='polar models: time without (off) and/or with (on) mask '
        'generation (test_cfg.mask_output); ignored for other models')
    parser.add_argument(
        '--dataset-type',
        choices=['train', 'val', 'test'],
        default='test',
        help='Benchmark dataset type. only supports train, val and test')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing '
        'benchmark metrics')
    add_common_args(parser, data_check=False)
    return parse_common(parser, argv)


MASK_MODES = dict(both=(False, True), on=(True, ), off=(False, ))


def polar_config(cfg) -> bool:
    """Whether the model config has a ``test_cfg.mask_output`` switch."""
    model = cfg.get('model', {})
    cfgs = [model.get('test_cfg', None)] + [
        model.get(key, {}).get('test_cfg', None)
        for key in ('bbox_head', 'mask_head')
    ]
    return any(c is not None and 'mask_output' in c for c in cfgs)


def inference_benchmark(args, cfg, distributed, logger):
    if distributed:
        raise SystemExit('error: the inference benchmark runs on one device')
    if not args.checkpoint:
        logger.warning(
            'no --checkpoint: timing a randomly initialised model, whose '
            'post-processing (few or no detections) is not representative')
    return DeviceInferenceBenchmark(
        cfg,
        args.checkpoint,
        device=args.device,
        is_fuse_conv_bn=args.fuse_conv_bn,
        max_iter=args.max_iter,
        log_interval=args.log_interval,
        num_warmup=args.num_warmup,
        num_threads=args.num_threads,
        mask_modes=MASK_MODES[args.mask_output] if polar_config(cfg) else
        None,
        logger=logger)


def dataloader_benchmark(args, cfg, distributed, logger):
    return DataLoaderBenchmark(
        cfg,
        distributed,
        args.dataset_type,
        args.max_iter,
        args.log_interval,
        args.num_warmup,
        logger=logger)


def dataset_benchmark(args, cfg, distributed, logger):
    return DatasetBenchmark(
        cfg,
        args.dataset_type,
        args.max_iter,
        args.log_interval,
        args.num_warmup,
        logger=logger)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmark; returns its averaged results (for ``--task
    inference``: ``avg_fps``, ``avg_fps_by_mode`` {mask_output: fps} and
    ``device``)."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))

    distributed = False
    if args.launcher != 'none':
        init_dist(args.launcher, **cfg.get('env_cfg', {}).get('dist_cfg', {}))
        distributed = True

    log_file = None
    if args.work_dir:
        log_file = os.path.join(args.work_dir, 'benchmark.log')
        mkdir_or_exist(args.work_dir)
    logger = MMLogger.get_instance(
        'mmdet', log_file=log_file, log_level='INFO')

    tasks = dict(
        inference=inference_benchmark,
        dataloader=dataloader_benchmark,
        dataset=dataset_benchmark)
    benchmark = tasks[args.task](args, cfg, distributed, logger)
    return benchmark.run(args.repeat_num)


if __name__ == '__main__':
    main()
