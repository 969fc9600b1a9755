"""Safe loading of mmengine checkpoints on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7 writes a few
non-tensor objects into every checkpoint (``HistoryBuffer`` in the message hub, numpy arrays
and scalars inside it), so ``load_from``, ``--resume`` and ``tools/test.py CHECKPOINT`` fail
with ``Unsupported global``. Instead of switching the safe unpickler off, this module
registers a local-file loader that keeps ``weights_only=True`` and allow-lists exactly those
classes; a checkpoint carrying any other pickled global (e.g. arbitrary code) is refused.
"""
import os.path as osp
import pickle
from typing import Any, Iterable, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

_EXTRA_SAFE_GLOBALS: List[Any] = []


def _numpy_globals() -> List[Any]:
    """Numpy callables and classes that pickled arrays and scalars reference."""
    # numpy 2 pickles reference ``numpy._core``; numpy 1 references ``numpy.core``.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    dtype_classes = [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType')
    ]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype
            ] + dtype_classes


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """The only ``getattr`` a checkpoint may perform.

    ``HistoryBuffer`` keeps its statistic functions (``HistoryBuffer.min``...)
    in a class-level dict, and pickle stores each as ``getattr(HistoryBuffer,
    'min')``. Allowing the builtin ``getattr`` would let a checkpoint reach any
    attribute of any allowed class, so only this lookup is allowed.
    """
    # The statistics mmengine registers: min, max, current, mean (+ custom).
    statistics = set(HistoryBuffer._statistics_methods) | {
        'min', 'max', 'current', 'mean'
    }
    if obj is HistoryBuffer and name in statistics:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}), which is not '
        'allowed')


def checkpoint_safe_globals() -> List[Any]:
    """Return the globals allowed in addition to torch's weights-only defaults.

    Returns:
        list: mmengine's ``HistoryBuffer``, numpy array/scalar reconstruction and
        dtype classes, plus anything added with :func:`allow_checkpoint_globals`.
    """
    restricted_getattr = [(_history_buffer_getattr, 'builtins.getattr'),
                          (_history_buffer_getattr, '__builtin__.getattr')]
    return ([HistoryBuffer] + restricted_getattr + _numpy_globals() +
            list(_EXTRA_SAFE_GLOBALS))


def allow_checkpoint_globals(objs: Iterable[Any]) -> None:
    """Extend the allow-list, e.g. for a custom hook that saves its own class.

    Args:
        objs (Iterable): Classes or functions that may appear in a checkpoint.
    """
    _EXTRA_SAFE_GLOBALS.extend(objs)


def safe_torch_load(filename: str,
                    map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with the safe unpickler and the mmengine allow-list.

    Args:
        filename (str): Path of a local checkpoint file.
        map_location: As in :func:`torch.load`.

    Returns:
        The unpickled checkpoint.

    Raises:
        RuntimeError: If the file holds a pickled global outside the allow-list.
    """
    with torch.serialization.safe_globals(checkpoint_safe_globals()):
        try:
            return torch.load(
                filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            reason = [
                line for line in str(err).splitlines()
                if 'GLOBAL' in line or 'getattr' in line
            ]
            raise RuntimeError(
                f'Refusing to load checkpoint {filename!r}: it contains a '
                'pickled object outside the allow-list of safe classes. If '
                'you trust this file, allow its classes with '
                'mmdet_ext.utils.allow_checkpoint_globals([...]). Reason: '
                f'{reason[0].strip() if reason else err}') from None


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location: Optional[Any]) -> Any:
    """mmengine scheme loader for local paths (name must start with
    ``load_from_``: mmengine logs the part after it)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


