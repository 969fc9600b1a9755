"""Distributed setup that works on CPU (gloo) as well as CUDA (nccl).

mmengine 0.10.7 always calls ``torch.cuda.set_device`` when it initialises a process group
and hands ``device_ids=[LOCAL_RANK]`` to DDP, so ``dist_train.sh`` fails on a machine
without CUDA. The tools call :func:`setup_distributed` before building the runner: on CPU it
initialises gloo itself (the runner then skips its own ``init_dist``) and configures the DDP
wrapper without ``device_ids``; on CUDA it leaves mmengine's nccl path untouched.
"""
import os
from datetime import timedelta

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log


def cuda_available() -> bool:
    """Whether this process can use a CUDA device."""
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def _convert_sync_bn(cfg: Config) -> None:
    """Replace SyncBN by BN everywhere in ``cfg.model`` (SyncBN is CUDA-only)."""

    def visit(node):
        if isinstance(node, dict):
            if node.get('type') in ('SyncBN', 'MMSyncBN'):
                node['type'] = 'BN'
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(cfg.model)


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` (and the process group on CPU) for the given launcher.

    Args:
        cfg (Config): The full config; ``env_cfg`` and ``model_wrapper_cfg``
            are edited in place on CPU.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    if launcher == 'none' or cuda_available():
        return
    # Config.setdefault stores a copy, so the nested dicts are set one by one.
    if 'env_cfg' not in cfg:
        cfg.env_cfg = dict()
    if 'dist_cfg' not in cfg.env_cfg:
        cfg.env_cfg.dist_cfg = dict()
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # DDP rejects device_ids for CPU modules
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', False)
    cfg.model_wrapper_cfg = wrapper
    _convert_sync_bn(cfg)
    if launcher == 'slurm':
        _export_slurm_env(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', timeout=timedelta(minutes=30))
        print_log(
            f'CPU distributed: gloo, rank {torch_dist.get_rank()} of '
            f'{torch_dist.get_world_size()}',
            logger='current')


def teardown_distributed() -> None:
    """After a finished run: wait for every rank, then destroy the default
    process group (if any). Error exits skip it (the barrier would wait for
    ranks that may never arrive; torchrun stops them).

    A process that leaves while a peer still reads from its gloo
    connection (e.g. rank 0 after broadcasting the validation metrics) makes
    the peer abort (``terminate called without an active exception``,
    SIGABRT) at the end of a finished run, and torchrun reports the run as
    failed; the barrier lets every rank finish its last collective first.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def _export_slurm_env(dist_cfg: dict) -> None:
    """Translate SLURM variables into the env:// variables gloo reads."""
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', str(dist_cfg.get('port', 29500)))
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        addr = os.popen(
            f'scontrol show hostname {node_list} | head -n1').read().strip()
        os.environ['MASTER_ADDR'] = addr or '127.0.0.1'
