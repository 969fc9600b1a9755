"""The tools stop with one ``error:`` line naming the bad key or file when a
checkpoint does not fit the model or a config key is wrong."""
import subprocess
import sys

import pytest
import torch
from mmengine.runner import save_checkpoint
from polar_configs import POLARNEXT


def _tool(args, repo_root, toy_root, *options):
    proc = subprocess.run(
        [
            sys.executable, *args, '--cfg-options', f'data_root={toy_root}/',
            *options
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300)
    lines = proc.stderr.strip().splitlines()
    return proc.returncode, lines[-1] if lines else ''


@pytest.fixture(scope='module')
def foreign_checkpoint(tmp_path_factory):
    """A checkpoint of another model (a linear layer)."""
    path = tmp_path_factory.mktemp('foreign') / 'linear.pth'
    save_checkpoint(
        dict(state_dict=torch.nn.Linear(3, 2).state_dict()), str(path))
    return str(path)


def test_test_tool_refuses_checkpoint_of_another_model(
        repo_root, toy_root, foreign_checkpoint, tmp_path):
    code, last = _tool([
        'tools/test.py', POLARNEXT, foreign_checkpoint, '--work-dir',
        str(tmp_path)
    ], repo_root, toy_root)
    assert code == 1
    assert last.startswith(f'error: checkpoint {foreign_checkpoint} does '
                           'not match the model: ')
    assert 'key(s) missing in the checkpoint: backbone.' in last
    assert '2 key(s) not in the model: bias, weight' in last


def test_resume_refuses_checkpoint_of_another_model(
        repo_root, toy_root, foreign_checkpoint, tmp_path):
    code, last = _tool([
        'tools/train.py', POLARNEXT, '--work-dir',
        str(tmp_path), '--resume', foreign_checkpoint
    ], repo_root, toy_root)
    assert code == 1
    assert last.startswith('error: cannot resume: checkpoint '
                           f'{foreign_checkpoint} does not match the model')


def test_misspelt_config_key_is_named(repo_root, toy_root, tmp_path):
    code, last = _tool([
        'tools/train.py', POLARNEXT, '--work-dir',
        str(tmp_path)
    ], repo_root, toy_root, 'model.bbox_head.num_clases=3')
    assert code == 1
    assert last == (
        'error: bad config key model.bbox_head.num_clases: '
        "PolarNeXtHead.__init__() got an unexpected keyword argument "
        "'num_clases' (did you mean 'num_classes'?)")
