"""The tools stop with one ``error:`` line naming the bad key or file when a
checkpoint does not fit the model or a config key is wrong."""
import sys

import pytest
import torch
from helpers.tools import main_exit, tool_error
from mmengine.runner import save_checkpoint
from polar_configs import POLARNEXT


@pytest.fixture(scope='module')
def foreign_checkpoint(tmp_path_factory):
    """A checkpoint of another model (a linear layer)."""
    path = tmp_path_factory.mktemp('foreign') / 'linear.pth'
    save_checkpoint(
        dict(state_dict=torch.nn.Linear(3, 2).state_dict()), str(path))
    return str(path)


def test_test_tool_refuses_checkpoint_of_another_model(
        toy_root, foreign_checkpoint, tmp_path):
    """The command line: exit code 1 and the error as its last line."""
    code, last = tool_error([
        sys.executable, 'tools/test.py', POLARNEXT, foreign_checkpoint,
        '--work-dir', tmp_path, '--cfg-options', f'data_root={toy_root}/'
    ])
    assert code == 1
    assert last.startswith(f'error: checkpoint {foreign_checkpoint} does '
                           'not match the model: ')
    assert 'key(s) missing in the checkpoint: backbone.' in last
    assert '2 key(s) not in the model: bias, weight' in last


def test_resume_refuses_checkpoint_of_another_model(
        monkeypatch, toy_root, foreign_checkpoint, tmp_path):
    message = main_exit(monkeypatch, 'train', POLARNEXT, '--work-dir',
                        tmp_path, '--resume', foreign_checkpoint,
                        '--cfg-options', f'data_root={toy_root}/')
    assert message.startswith('error: cannot resume: checkpoint '
                              f'{foreign_checkpoint} does not match the '
                              'model: ')
    assert '2 key(s) not in the model: bias, weight' in message


def test_misspelt_config_key_is_named(toy_root, tmp_path):
    """The command line: exit code 1 and the error as its last line."""
    code, last = tool_error([
        sys.executable, 'tools/train.py', POLARNEXT, '--work-dir', tmp_path,
        '--cfg-options', f'data_root={toy_root}/',
        'model.bbox_head.num_clases=3'
    ])
    assert code == 1
    # the head class named is the one whose __init__ rejects the argument
    assert last.startswith('error: bad config key model.bbox_head.num_clases:'
                           ' ')
    assert last.endswith("__init__() got an unexpected keyword argument "
                         "'num_clases' (did you mean 'num_classes'?)")
