"""Bad dataset input stops with a message naming the file."""
import json
import shutil

import pytest
from helpers.tools import main_exit
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
def test_tools_exit_with_one_line_message(monkeypatch, repo_root, toy_copy,
                                          tool):
    """Both tools run the check before building anything and exit with its
    message as their one ``error:`` line."""
    ann = toy_copy / 'annotations' / 'instances_val.json'
    ann.write_text('{not json')
    args = [repo_root / TOY_CONFIG]
    if tool == 'test':
        ckpt = toy_copy / 'fake.pth'
        ckpt.write_bytes(b'')
        args.append(ckpt)
    message = main_exit(monkeypatch, tool, *args, '--cfg-options',
                        f'data_root={toy_copy}/')
    assert message.startswith('error: ')
    assert '\n' not in message
    assert f'annotation file is not valid JSON: {ann} (' in message


def test_unrasterizable_annotations_are_listed():
    from mmdet_ext.utils.data_check import unrasterizable_annotations
    image = dict(id=1, file_name='a.png', width=100, height=80)
    segms = [
        [[10, 10, 50, 10, 50, 50]],  # fine
        [[10, 10, 50, 10, 50, 50], [1, 2]],  # fine: 2nd part ignored
        [[10, 10, 30, 30]],  # read as a box
        [[1, 2], [3, 4, 5]],  # no part with 3 points
        [[10, 10, float('nan'), 10, 50, 50]],
        [[10, 10, 1e7, 10, 50, 50]],  # far outside: pycocotools OOM
        [],
        [10, 10, 50, 10, 50, 50],  # flat, not a list of polygons
        dict(size=[80, 100], counts='abc'),  # RLE: fine
        dict(counts='abc'),
    ]
    data = dict(images=[image], annotations=[
        dict(id=i, image_id=1, segmentation=s) for i, s in enumerate(segms)
    ])
    bad = {ann_id: why for ann_id, _, why in unrasterizable_annotations(data)}
    assert sorted(bad) == [2, 3, 4, 5, 6, 7, 9]
    assert bad[2] == ('first polygon has 2 points (pycocotools reads it as '
                      'a box)')
    assert bad[3] == 'no polygon with 3 or more points'
    assert bad[4] == 'coordinate nan is not a finite number'
    assert bad[5] == 'coordinate 10000000.0 is far outside the image'
    assert bad[6] == 'empty segmentation'
    assert bad[7] == 'polygons are not lists of coordinates'
    assert bad[9] == 'RLE without "counts" and "size"'
