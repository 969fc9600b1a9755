"""Safe loading of mmengine checkpoints on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7 writes a few
non-tensor objects into every checkpoint (``HistoryBuffer`` in the message hub, numpy arrays
and scalars inside it), so ``load_from``, ``--resume`` and ``tools/test.py CHECKPOINT`` fail
with ``Unsupported global``. Instead of switching the safe unpickler off, this module
registers a local-file loader that keeps ``weights_only=True`` and allow-lists exactly those
classes; a checkpoint carrying any other pickled global (e.g. arbitrary code) is refused.

It also holds the checks the tools run around checkpoints: which file ``--resume``
continues from after a crash (:func:`find_resume_checkpoint`) and which keys of a
checkpoint do not fit the model (:func:`check_checkpoint_matches`).
"""
import glob
import os.path as osp
import pickle
import zipfile
from typing import Any, Dict, Iterable, List, Optional

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


# ----------------------------------------------------------------- resume
def checkpoint_is_complete(filename: str) -> bool:
    """Whether a checkpoint file was written to the end.

    ``torch.save`` writes a zip archive whose directory is at the end of the
    file, so a file cut short by a killed process has no readable directory.
    Reading the directory is cheap (no tensor is loaded).

    Args:
        filename (str): Path of the checkpoint.

    Returns:
        bool: True for a readable torch zip archive.
    """
    if not osp.isfile(filename):
        return False
    try:
        with zipfile.ZipFile(filename) as archive:
            names = archive.namelist()
        return any(name.endswith('data.pkl') for name in names)
    except (zipfile.BadZipFile, OSError):
        return False


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from.

    mmengine resumes from the file named in ``work_dir/last_checkpoint``. A
    process killed while saving can leave that file pointing at a
    checkpoint that was cut short, or (``max_keep_ckpts``) already deleted;
    then the newest complete ``*.pth`` of the work dir is used instead.

    Args:
        work_dir (str): The run's work directory.

    Returns:
        str | None: Path of a complete checkpoint, or None if there is none.
    """
    candidates = []
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            named = f.read().strip()
        if named:
            candidates.append(named if osp.isabs(named) else osp.join(
                work_dir, osp.basename(named)))
    others = glob.glob(osp.join(work_dir, '*.pth'))
    candidates += sorted(others, key=osp.getmtime, reverse=True)
    for path in candidates:
        if checkpoint_is_complete(path):
            return path
    return None


# --------------------------------------------------------- key mismatches
def state_dict_mismatch(model_state: Dict[str, Any],
                        ckpt_state: Dict[str, Any]) -> Dict[str, list]:
    """Keys in which a checkpoint's weights and a model differ.

    Args:
        model_state (dict): ``model.state_dict()``.
        ckpt_state (dict): The checkpoint's ``state_dict`` (a leading
            ``module.`` of DDP checkpoints is ignored).

    Returns:
        dict[str, list]: ``missing`` (in the model, not in the checkpoint;
        BatchNorm's ``num_batches_tracked`` may be absent),
        ``unexpected`` (in the checkpoint only) and ``shape`` (``(key,
        checkpoint shape, model shape)``), each sorted.
    """
    ckpt_state = {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in ckpt_state.items()
    }
    # BatchNorm's counter is absent from older checkpoints and unused with a
    # momentum (mmengine ignores it too).
    missing = sorted(key for key in set(model_state) - set(ckpt_state)
                     if not key.endswith('num_batches_tracked'))
    unexpected = sorted(set(ckpt_state) - set(model_state))
    shape = []
    for key in sorted(set(model_state) & set(ckpt_state)):
        model_shape = tuple(getattr(model_state[key], 'shape', ()))
        ckpt_shape = tuple(getattr(ckpt_state[key], 'shape', ()))
        if model_shape != ckpt_shape:
            shape.append((key, ckpt_shape, model_shape))
    return dict(missing=missing, unexpected=unexpected, shape=shape)


def format_mismatch(mismatch: Dict[str, list], filename: str,
                    max_listed: int = 5) -> str:
    """One paragraph describing :func:`state_dict_mismatch`'s result, or ''
    when the checkpoint matches the model."""
    parts = []
    for kind, label in (('missing', 'missing in the checkpoint'),
                        ('unexpected', 'not in the model'),
                        ('shape', 'with another shape')):
        items = mismatch[kind]
        if not items:
            continue
        if kind == 'shape':
            shown = [f'{key} {tuple(c)} vs model {tuple(m)}'
                     for key, c, m in items[:max_listed]]
        else:
            shown = list(items[:max_listed])
        more = f', ... ({len(items) - max_listed} more)' if len(
            items) > max_listed else ''
        parts.append(f'{len(items)} key(s) {label}: {", ".join(shown)}{more}')
    if not parts:
        return ''
    return (f'checkpoint {filename} does not match the model: ' +
            '; '.join(parts))


def check_checkpoint_matches(model: torch.nn.Module, filename: str) -> str:
    """Compare a checkpoint file with a model (DDP wrappers unwrapped).

    Args:
        model (nn.Module): The built model.
        filename (str): Checkpoint path.

    Returns:
        str: :func:`format_mismatch`'s message, '' if they match.
    """
    model = getattr(model, 'module', model)
    checkpoint = load_from_local(filename, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint) if isinstance(
        checkpoint, dict) else {}
    return format_mismatch(
        state_dict_mismatch(model.state_dict(), state), filename)


def checkpoint_classes(filename: str) -> Optional[tuple]:
    """The class names a checkpoint was trained with (``meta.dataset_meta``,
    which mmengine's runner saves), or None if it has none.

    Args:
        filename (str): Path of a local checkpoint.

    Returns:
        tuple[str] | None: The classes.
    """
    checkpoint = load_from_local(filename, map_location='cpu')
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    classes = ((meta or {}).get('dataset_meta') or {}).get('classes')
    return tuple(classes) if classes else None
