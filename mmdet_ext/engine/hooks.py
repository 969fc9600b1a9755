"""Random state saved in checkpoints so that a resumed run repeats an
uninterrupted one.

mmengine seeds python, numpy and torch once when the runner starts; a run
resumed from epoch N starts the data augmentation (e.g. ``RandomFlip``,
which draws from numpy in the main process when ``num_workers=0``) and the
DataLoader's worker seeds from that initial state instead of the state the
uninterrupted run had after N epochs, so the two runs diverge.
:class:`RNGStateHook` stores the generators' states in every checkpoint and
restores them when training resumes from it.
"""
import logging
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmdet.registry import HOOKS

_KEY = 'rng_state'


def get_rng_state() -> dict:
    """States of python's, numpy's and torch's (CPU and CUDA) generators."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['torch_cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    cuda_states = state.get('torch_cuda')
    if cuda_states and torch.cuda.is_available() and len(
            cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def _as_python_state(state):
    """``random.setstate`` wants tuples; a checkpoint may hold lists."""
    if isinstance(state, list):
        return tuple(_as_python_state(item) for item in state)
    if isinstance(state, tuple):
        return tuple(_as_python_state(item) for item in state)
    return state


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the random state in checkpoints and restore it on resume.

    The state is taken when the checkpoint is written (at the end of an
    epoch or iteration) and set again just before training continues, after
    mmengine has re-seeded, so the resumed run draws exactly the numbers the
    uninterrupted run drew. Loading weights with ``load_from`` (iteration 0)
    leaves the random state alone.

    With ``num_workers > 0`` the pipeline's randomness lives in the workers:
    it is reproduced when they are re-created each epoch
    (``persistent_workers=False``: mmengine seeds them from the run's seed)
    but not with persistent workers. In multi-process training every rank
    gets rank 0's saved state.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._pending_iter = -1

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[_KEY] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(_KEY)
        meta_iter = checkpoint.get('meta', {}).get('iter', 0)
        if state is not None and meta_iter > 0:
            self._pending, self._pending_iter = state, meta_iter

    def before_train(self, runner) -> None:
        if self._pending is None:
            return
        # Only a resume continues at the checkpoint's iteration.
        if runner.iter == self._pending_iter:
            set_rng_state(self._pending)
            print_log(
                f'restored the random state of iteration {runner.iter}',
                logger='current')
            if _persistent_workers(runner):
                print_log(
                    'persistent DataLoader workers keep their own random '
                    'state, which checkpoints do not hold: the resumed data '
                    'augmentation differs from an uninterrupted run (set '
                    'persistent_workers=False to repeat it exactly)',
                    logger='current',
                    level=logging.WARNING)
        self._pending = None


def _persistent_workers(runner) -> bool:
    loader = runner.train_dataloader
    return bool(getattr(loader, 'persistent_workers', False)) and getattr(
        loader, 'num_workers', 0) > 0
