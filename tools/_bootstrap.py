"""Shared start-up of the tools: repo on ``sys.path``, project registration and the
command-line pieces every tool has.

Importing ``mmdet_ext`` registers the project's modules and the safe checkpoint loader
(see ``mmdet_ext/utils/checkpoint.py``) before any checkpoint is read.
"""
import argparse
import os
import os.path as osp
import sys
import warnings
from contextlib import contextmanager
from typing import Optional, Sequence

# mmengine resolves `mmdet::` config bases through pkg_resources, whose import warns on
# setuptools >= 81; the warning would precede every tool's output, error lines included.
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmdet_ext  # noqa: E402,F401
from mmengine.config import Config, DictAction  # noqa: E402

from mmdet_ext.engine import build_runner  # noqa: E402,F401  (the tools')
from mmdet_ext.utils import (  # noqa: E402
    DataCheckError, data_error_message, explain_config_error,
    merge_cfg_options, sync_classes)


def add_common_args(parser: argparse.ArgumentParser,
                    data_check: bool = True) -> None:
    """``--cfg-options``, ``--launcher``, ``--local-rank`` (and the data
    check switch) as MMDetection's tools define them."""
    if data_check:
        parser.add_argument(
            '--skip-data-check',
            action='store_true',
            help='do not check that annotation files and images exist')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed. data_root=... also moves the datasets and evaluators.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch>=2.0 passes --local-rank; older launchers pass --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` (default: the command line) and export ``LOCAL_RANK``
    for launchers that pass it as an argument."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args: argparse.Namespace) -> Config:
    """Config with ``--cfg-options``, launcher and work dir applied (the
    default work dir is ``./work_dirs/<config name>``), and the classes of
    its ``CocoFormatDataset`` annotation files given to the datasets and
    the model (:func:`~mmdet_ext.utils.sync_classes`)."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options)
    try:
        sync_classes(cfg)
    except (DataCheckError, ValueError) as err:
        sys.exit(f'error: {err}')
    if getattr(args, 'work_dir', None) is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


@contextmanager
def exit_on_user_error(cfg: Config):
    """End the process with one ``error:`` line for problems of the user's
    data or config: a :class:`~mmdet_ext.utils.DataCheckError` (also when a
    DataLoader worker raised it) names the file, a build error that
    :func:`~mmdet_ext.utils.explain_config_error` traces back to a config
    key names the key. Other errors propagate with their traceback."""
    try:
        yield
    except DataCheckError as err:
        sys.exit(f'error: {data_error_message(err)}')
    except (TypeError, KeyError, ValueError) as err:
        message = explain_config_error(cfg, err)
        if message is None:
            raise
        sys.exit(f'error: {message}')
