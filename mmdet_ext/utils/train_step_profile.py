"""One training step of a detector, timed and broken down by profiler scope.

:func:`train_step` runs forward, losses and backward of one batch inside
``step/`` ``torch.profiler.record_function`` scopes (free unless a profiler
runs); :func:`training_breakdown` profiles one such step, with a scope
around every top-level module's forward (:func:`module_scopes`), and reads
back the milliseconds of those scopes and of the library's own
(``LIBRARY_SCOPES``: inside ``PolarTargetBuilder.build`` and
``PolarNeXtHead.loss_by_feat``) with ``key_averages()``: the breakdown of
the very code that trains. Used by ``tools/analysis_tools/compare_models.py``.
"""
import copy
from contextlib import contextmanager
from typing import Dict, Iterator, Tuple

import numpy as np
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from mmdet_ext.testing import synthetic_gt
from .forced_detections import raw_batch

# Profiler scopes of the breakdown: the step's own (``step/``, one per
# top-level module of the detector) and the library's.
STEP_SCOPE = 'step/'
LIBRARY_SCOPES = ('polarnext_head/', 'polar_targets/')


def synthetic_train_batch(model: nn.Module, size: Tuple[int, int],
                          num_gt: int, seed: int) -> dict:
    """A raw training batch with synthetic polygon GT for the model's
    class count."""
    num_classes = model_num_classes(model)
    gt = synthetic_gt(num_gt, size, num_classes, np.random.default_rng(seed))
    return raw_batch(size, seed, gt)


def model_num_classes(model: nn.Module) -> int:
    """Class count of a detector's (first) head that declares one."""
    for module in model.modules():
        if module is not model and isinstance(
                getattr(module, 'num_classes', None), int):
            return module.num_classes
    raise ValueError(f'{type(model).__name__} declares no num_classes')


def train_step(model: nn.Module, batch: dict) -> float:
    """Forward, losses and backward of one batch; returns the loss. The
    ``step/`` profiler scopes cost nothing unless profiling."""
    model.zero_grad(set_to_none=True)
    with record_function(STEP_SCOPE + 'data_preprocessor'):
        data = model.data_preprocessor(copy.deepcopy(batch), True)
    with record_function(STEP_SCOPE + 'forward + losses'):
        loss, _ = model.parse_losses(model(**data, mode='loss'))
    with record_function(STEP_SCOPE + 'backward'):
        loss.backward()
    return float(loss.detach())


@contextmanager
def module_scopes(model: nn.Module) -> Iterator[None]:
    """A ``step/<name> forward`` profiler scope around every call of each
    top-level module of the detector (backbone, neck, heads...)."""
    handles, open_scopes = [], []

    def enter(name):
        def hook(module, args):
            scope = record_function(f'{STEP_SCOPE}{name} forward')
            scope.__enter__()
            open_scopes.append(scope)
        return hook

    def leave(module, args, output):
        open_scopes.pop().__exit__(None, None, None)

    for name, module in model.named_children():
        if name != 'data_preprocessor':
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def training_breakdown(model: nn.Module, batch: dict,
                       device: torch.device) -> Dict[str, float]:
    """Milliseconds of every profiler scope of one training step: the
    detector's (``step/``) and the library's, read back with
    ``key_averages()``.

    Returns:
        dict[str, float]: Scope name to its total time in the step (host
        time on CPU, kernel time on CUDA), in :func:`scope_rank` order.
    """
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with module_scopes(model), profile(activities=activities) as prof:
        train_step(model, batch)
    attr = 'device_time_total' if device.type == 'cuda' else 'cpu_time_total'
    times = {
        event.key: getattr(event, attr) / 1000
        for event in prof.key_averages()
        if event.key.startswith((STEP_SCOPE, ) + LIBRARY_SCOPES)
    }
    return {key: times[key] for key in sorted(times, key=scope_rank)}


def scope_rank(key: str) -> Tuple[int, str]:
    """Sort key of the breakdown rows: preprocessing, module forwards, the
    library's scopes (by name), the whole forward, backward."""
    if not key.startswith(STEP_SCOPE):
        return 2, key
    rank = {
        'data_preprocessor': 0,
        'forward + losses': 3,
        'backward': 4
    }.get(key[len(STEP_SCOPE):], 1)
    return rank, ''
