# Train a detector with MMDetection's command line (see README "Training").
import argparse
import sys

from _bootstrap import (add_common_args, build_runner, exit_on_user_error,
                        load_config)
from _bootstrap import parse_args as parse_common
from mmengine.config import Config
from mmengine.runner import Runner

from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmdet_ext.engine import amp_optim_wrapper
from mmdet_ext.utils import (DataCheckError, check_checkpoint_matches,
                             check_datasets, find_resume_checkpoint,
                             setup_distributed, teardown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR.')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    add_common_args(parser)
    return parse_common(parser)


def build_config(args) -> Config:
    """Load the config and apply the command-line overrides."""
    cfg = load_config(args)
    if args.amp or cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        # float16 + GradScaler with CUDA, bfloat16 autocast on CPU
        cfg.optim_wrapper = amp_optim_wrapper(cfg.optim_wrapper)
    add_rng_state_hook(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in \
                cfg.auto_scale_lr:
            raise RuntimeError('Can not find "auto_scale_lr" or '
                               '"auto_scale_lr.base_batch_size" in your'
                               ' configuration file.')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        # mmengine would trust work_dir/last_checkpoint, which a crash while
        # saving can leave pointing at a cut or deleted file.
        cfg.resume = True
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
        if cfg.load_from is None:
            cfg.resume = False
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def add_rng_state_hook(cfg: Config) -> None:
    """Save the random state in checkpoints, so --resume repeats the
    uninterrupted run (``mmdet_ext.engine.RNGStateHook``)."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'RNGStateHook' for h in hooks):
        hooks.append(dict(type='RNGStateHook'))
    cfg.custom_hooks = hooks


def check_resume_checkpoint(cfg: Config, runner: Runner) -> None:
    """Stop when the checkpoint to resume from does not fit the model
    (mmengine would only warn and train the unmatched layers from
    scratch)."""
    if not cfg.get('resume') or not cfg.get('load_from'):
        return
    message = check_checkpoint_matches(runner.model, cfg.load_from)
    if message:
        sys.exit(f'error: cannot resume: {message}')


def main():
    args = parse_args()
    setup_cache_size_limit_of_dynamo()
    cfg = build_config(args)
    if not args.skip_data_check:
        try:
            check_datasets(cfg, ('train_dataloader', 'val_dataloader'))
        except DataCheckError as err:
            sys.exit(f'error: {err}')
    setup_distributed(cfg, args.launcher)
    with exit_on_user_error(cfg):
        runner = build_runner(cfg)
        check_resume_checkpoint(cfg, runner)
        runner.train()
    teardown_distributed()


if __name__ == '__main__':
    main()
