"""The safe local checkpoint loader (torch weights_only + mmengine allow-list)."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import (CheckpointLoader, _load_checkpoint,
                                        save_checkpoint)

import mmdet_ext  # noqa: F401  (registers the loader)
from mmdet_ext.utils import allow_checkpoint_globals, safe_torch_load


def _mmengine_like_checkpoint(path):
    """What mmengine's CheckpointHook writes: weights, meta, message hub with
    HistoryBuffers holding numpy values, optimizer state."""
    hub = MessageHub.get_instance('test_checkpoint_hub')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 0.01)
    hub.update_info('iter', 3)
    model = torch.nn.Linear(3, 2)
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    optim.step()
    checkpoint = dict(
        meta=dict(
            epoch=1,
            iter=3,
            seed=np.int64(7),
            dataset_meta=dict(classes=('a', 'b'), palette=[(1, 2, 3)])),
        state_dict=model.state_dict(),
        message_hub=hub.state_dict(),
        optimizer=optim.state_dict())
    save_checkpoint(checkpoint, str(path))
    return model


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null', ))


def test_torch_default_refuses_mmengine_checkpoint(tmp_path):
    # The problem being solved: plain torch.load (weights_only default) fails.
    path = tmp_path / 'ckpt.pth'
    _mmengine_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_mmengine_loader_reads_checkpoint(tmp_path):
    path = tmp_path / 'ckpt.pth'
    model = _mmengine_like_checkpoint(path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert torch.equal(loaded['state_dict']['weight'], model.weight)
    history = loaded['message_hub']['log_scalars']['train/loss']
    assert history.current() == pytest.approx(0.5)
    assert loaded['meta']['seed'] == 7
    assert 'momentum_buffer' in loaded['optimizer']['state'][0]


def test_loader_is_registered_for_local_paths():
    assert CheckpointLoader._schemes[''].__module__ == \
        'mmdet_ext.utils.checkpoint'


def test_arbitrary_pickled_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Evil()}, path)
    with pytest.raises(RuntimeError, match='Refusing to load checkpoint'):
        _load_checkpoint(str(path), map_location='cpu')


def test_allow_list_is_extensible(tmp_path):
    path = tmp_path / 'custom.pth'
    torch.save({'state_dict': {}, 'extra': _Trusted(3)}, path)
    with pytest.raises(RuntimeError):
        safe_torch_load(str(path))
    allow_checkpoint_globals([_Trusted])
    assert safe_torch_load(str(path))['extra'].value == 3


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


class _Trusted:

    def __init__(self, value):
        self.value = value


class _Sneaky:
    """Pickles as getattr(HistoryBuffer, "__init__"): a non-statistic
    attribute lookup that the restricted getattr must refuse."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_restricted(tmp_path):
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': _Sneaky()}, path)
    with pytest.raises((RuntimeError, pickle.UnpicklingError)):
        safe_torch_load(str(path))


def test_state_dict_mismatch_lists_keys():
    from mmdet_ext.utils import format_mismatch, state_dict_mismatch
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 4))
    ckpt = {
        'module.0.weight': torch.zeros(2, 3),  # DDP prefix: matches
        '0.bias': torch.zeros(2),
        '1.weight': torch.zeros(5, 2),  # other class count
        'extra.weight': torch.zeros(1),
    }
    mismatch = state_dict_mismatch(model.state_dict(), ckpt)
    assert mismatch == dict(
        missing=['1.bias'],
        unexpected=['extra.weight'],
        shape=[('1.weight', (5, 2), (4, 2))])
    message = format_mismatch(mismatch, 'x.pth')
    assert message == (
        'checkpoint x.pth does not match the model: 1 key(s) missing in the '
        'checkpoint: 1.bias; 1 key(s) not in the model: extra.weight; 1 '
        'key(s) with another shape: 1.weight (5, 2) vs model (4, 2)')
    assert format_mismatch(
        state_dict_mismatch(model.state_dict(), model.state_dict()),
        'x.pth') == ''
    bn = torch.nn.BatchNorm2d(2).state_dict()
    old = {k: v for k, v in bn.items() if 'num_batches_tracked' not in k}
    assert state_dict_mismatch(bn, old)['missing'] == []


def test_check_checkpoint_matches_reads_the_file(tmp_path):
    from mmdet_ext.utils import check_checkpoint_matches
    model = torch.nn.Linear(3, 2)
    save_checkpoint(dict(state_dict=model.state_dict()),
                    str(tmp_path / 'same.pth'))
    assert check_checkpoint_matches(model, str(tmp_path / 'same.pth')) == ''
    other = torch.nn.Conv2d(1, 1, 1)
    message = check_checkpoint_matches(other, str(tmp_path / 'same.pth'))
    assert 'same.pth does not match the model' in message
    assert ('with another shape: bias (2,) vs model (1,), weight (2, 3) '
            'vs model (1, 1, 1, 1)') in message
