"""Bad dataset input stops with a message naming the file."""
import json
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmdet_ext.utils import DataCheckError, check_datasets, merge_cfg_options

TOY_CONFIG = 'configs/solov2/solov2_r18_fpn_toy-cpu.py'


@pytest.fixture()
def toy_copy(toy_root, tmp_path):
    """A private copy of the toy dataset the test may break."""
    root = tmp_path / 'toy'
    shutil.copytree(toy_root, root)
    return root


def _cfg(repo_root, data_root):
    cfg = Config.fromfile(str(repo_root / TOY_CONFIG))
    merge_cfg_options(cfg, {'data_root': f'{data_root}/'})
    return cfg


def test_valid_dataset_passes(repo_root, toy_copy):
    check_datasets(_cfg(repo_root, toy_copy))


def test_missing_data_root(repo_root, tmp_path):
    with pytest.raises(DataCheckError, match='data_root does not exist.*nope'):
        check_datasets(_cfg(repo_root, tmp_path / 'nope'))


def test_missing_annotation_file(repo_root, toy_copy):
    (toy_copy / 'annotations' / 'instances_val.json').unlink()
    with pytest.raises(DataCheckError,
                       match='annotation file not found.*instances_val.json'):
        check_datasets(_cfg(repo_root, toy_copy))


def test_corrupt_annotation_file(repo_root, toy_copy):
    ann = toy_copy / 'annotations' / 'instances_train.json'
    ann.write_text(ann.read_text()[:100])
    with pytest.raises(DataCheckError,
                       match='not valid JSON.*instances_train.json'):
        check_datasets(_cfg(repo_root, toy_copy))


def test_not_coco_annotation_file(repo_root, toy_copy):
    ann = toy_copy / 'annotations' / 'instances_train.json'
    ann.write_text(json.dumps({'images': []}))
    with pytest.raises(DataCheckError, match='no "annotations" list'):
        check_datasets(_cfg(repo_root, toy_copy))


def test_missing_image(repo_root, toy_copy):
    victim = sorted((toy_copy / 'val').iterdir())[1]
    victim.unlink()
    with pytest.raises(DataCheckError, match=f'1 image.*{victim.name}'):
        check_datasets(_cfg(repo_root, toy_copy))


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_tools_exit_with_one_line_message(repo_root, toy_copy, tool):
    ann = toy_copy / 'annotations' / 'instances_val.json'
    ann.write_text('{not json')
    args = [sys.executable, str(repo_root / f'tools/{tool}.py'),
            str(repo_root / TOY_CONFIG)]
    if tool == 'test':
        ckpt = toy_copy / 'fake.pth'
        ckpt.write_bytes(b'')
        args.append(str(ckpt))
    args += ['--cfg-options', f'data_root={toy_copy}/']
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr
    assert 'instances_val.json' in proc.stderr
    assert proc.stderr.strip().startswith('error:')
