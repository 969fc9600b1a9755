# Evaluate a checkpoint with MMDetection's command line (see README "Testing").
import argparse
import os.path as osp
import sys

from _bootstrap import (add_common_args, build_runner, exit_on_user_error,
                        load_config)
from _bootstrap import parse_args as parse_common
from mmengine.config import Config, ConfigDict
from mmengine.evaluator import DumpResults

from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmdet_ext.utils import (DataCheckError, check_checkpoint_matches,
                             check_datasets, setup_distributed,
                             teardown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(
        description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true')
    add_common_args(parser)
    return parse_common(parser)


def trigger_visualization_hook(cfg: Config, args) -> Config:
    """Switch on DetVisualizationHook for --show / --show-dir."""
    default_hooks = cfg.default_hooks
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks. '
            'refer to usage "visualization=dict(type=\'VisualizationHook\')"')
    default_hooks['visualization']['draw'] = True
    if args.show:
        default_hooks['visualization']['show'] = True
        default_hooks['visualization']['wait_time'] = args.wait_time
    if args.show_dir:
        default_hooks['visualization']['test_out_dir'] = args.show_dir
    return cfg


def apply_tta(cfg: Config) -> None:
    """Wrap the model and pipeline for test-time augmentation."""
    if 'tta_model' not in cfg:
        raise RuntimeError('--tta needs `tta_model` and `tta_pipeline` in '
                           'the config')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    test_data_cfg = cfg.test_dataloader.dataset
    while 'dataset' in test_data_cfg:
        test_data_cfg = test_data_cfg['dataset']
    test_data_cfg.pipeline = cfg.tta_pipeline


def build_config(args) -> Config:
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        apply_tta(cfg)
    return cfg


def main():
    args = parse_args()
    setup_cache_size_limit_of_dynamo()
    cfg = build_config(args)
    if not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint not found: {args.checkpoint}')
    if not args.skip_data_check:
        try:
            check_datasets(cfg, ('test_dataloader', ))
        except DataCheckError as err:
            sys.exit(f'error: {err}')
    setup_distributed(cfg, args.launcher)
    with exit_on_user_error(cfg):
        runner = build_runner(cfg)
        # mmengine loads with strict=False and only warns: a checkpoint of
        # another model would be evaluated with random layers.
        message = check_checkpoint_matches(runner.model, args.checkpoint)
        if message:
            sys.exit(f'error: {message}')
        if args.out is not None:
            assert args.out.endswith(('.pkl', '.pickle')), \
                'The dump file must be a pkl file.'
            runner.test_evaluator.metrics.append(
                DumpResults(out_file_path=args.out))
        runner.test()
    teardown_distributed()


if __name__ == '__main__':
    main()
