"""Classes from the annotation file: ``CocoFormatDataset`` and
``sync_classes`` (the model's ``num_classes`` follows the file)."""
import json

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT
from mmdet.registry import DATASETS
from mmdet_ext.utils import (DataCheckError, read_class_names,
                             set_num_classes, sync_classes)

OWN_DATA_CPU = 'configs/own_data/polarnext_r18_fpn_own-data-cpu.py'
#: Config -> the dotted num_classes paths its model must get.
HEAD_PATHS = {
    OWN_DATA_CPU: ['model.bbox_head.num_classes'],
    'configs/solov2/solov2_r18_fpn_toy-cpu.py':
    ['model.mask_head.num_classes'],
    'configs/mask_rcnn/mask-rcnn_r18_fpn_toy-cpu.py': [
        'model.roi_head.bbox_head.num_classes',
        'model.roi_head.mask_head.num_classes'
    ],
}


def _write_coco(path, names, ids=None, images=()):
    """A COCO file with the given categories (ids 1, 2... by default)."""
    ids = ids or list(range(1, len(names) + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(
        images=list(images), annotations=[],
        categories=[dict(id=i, name=n) for i, n in zip(ids, names)])))
    return path


def _own_data_cfg(data_root, config=OWN_DATA_CPU):
    """``config`` with every dataset a CocoFormatDataset under
    ``data_root``."""
    cfg = Config.fromfile(str(REPO_ROOT / config))
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[split].dataset
        dataset.type = 'CocoFormatDataset'
        dataset.data_root = f'{data_root}/'
        dataset.pop('metainfo', None)
        dataset.ann_file = 'annotations/instances_train.json' \
            if split == 'train_dataloader' else \
            'annotations/instances_val.json'
    return cfg


def _get(cfg, dotted):
    node = cfg
    for key in dotted.split('.'):
        node = node[key]
    return node


def test_read_class_names_keeps_the_file_order(tmp_path):
    # mmdet numbers the labels in the order of the file, not by id
    path = _write_coco(tmp_path / 'a.json', ['zebra', 'ant', 'cat'],
                       ids=[9, 2, 5])
    assert read_class_names(str(path)) == ('zebra', 'ant', 'cat')


@pytest.mark.parametrize('content, match', [
    (dict(images=[], annotations=[]), 'has no "categories"'),
    (dict(categories=[]), 'has no "categories"'),
    (dict(categories=[dict(id=1)]), 'needs an "id" and a non-empty "name"'),
    (dict(categories=[dict(id=1, name='a'), dict(id=2, name='a')]),
     'category name\\(s\\) used twice: a'),
    ([1, 2], 'not a COCO JSON object'),
])
def test_read_class_names_refuses_unusable_categories(tmp_path, content,
                                                      match):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(content))
    with pytest.raises(DataCheckError, match=match):
        read_class_names(str(path))


@pytest.mark.parametrize('config', sorted(HEAD_PATHS))
def test_sync_classes_sets_every_head(config, tmp_path):
    names = [f'c{i}' for i in range(7)]
    for split in ('train', 'val'):
        _write_coco(tmp_path / 'annotations' / f'instances_{split}.json',
                    names)
    cfg = _own_data_cfg(tmp_path, config)
    assert sync_classes(cfg) == tuple(names)
    for path in HEAD_PATHS[config]:
        assert _get(cfg, path) == 7, path
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[split].dataset.metainfo.classes == tuple(names)


def test_set_num_classes_leaves_the_rpn_alone():
    model = dict(rpn_head=dict(num_classes=1),
                 roi_head=dict(bbox_head=[dict(num_classes=80)] * 2))
    assert set_num_classes(model, 5, 'model') == [
        'model.roi_head.bbox_head[0].num_classes',
        'model.roi_head.bbox_head[1].num_classes'
    ]
    assert model['rpn_head']['num_classes'] == 1  # boxes are "object"


def test_sync_classes_refuses_splits_with_other_categories(tmp_path):
    _write_coco(tmp_path / 'annotations' / 'instances_train.json',
                ['a', 'b'])
    _write_coco(tmp_path / 'annotations' / 'instances_val.json',
                ['b', 'a'])
    with pytest.raises(DataCheckError, match='instances_val.json \\(b, a\\) '
                       'differ from those of .*instances_train.json'):
        sync_classes(_own_data_cfg(tmp_path))


def test_sync_classes_without_files_or_coco_format_changes_nothing(
        tmp_path):
    cfg = _own_data_cfg(tmp_path)  # no annotation file: pre-flight's job
    assert sync_classes(cfg) is None
    assert cfg.model.bbox_head.num_classes == 80
    toy = Config.fromfile(
        str(REPO_ROOT / 'configs/solov2/solov2_r18_fpn_toy-cpu.py'))
    assert sync_classes(toy) is None  # CocoDataset: explicit classes
    assert toy.model.mask_head.num_classes == 3


def test_sync_classes_takes_given_classes(tmp_path):
    """The demo passes the checkpoint's classes (files may be absent)."""
    cfg = _own_data_cfg(tmp_path)
    assert sync_classes(cfg, classes=['x', 'y']) == ('x', 'y')
    assert cfg.model.bbox_head.num_classes == 2


def _build_dataset(tmp_path, names, ids=None, metainfo=None):
    init_default_scope('mmdet')
    import mmdet_ext  # noqa: F401  (registers CocoFormatDataset)
    image = dict(id=1, file_name='a.png', width=8, height=8)
    _write_coco(tmp_path / 'ann.json', names, ids, images=[image])
    return DATASETS.build(
        dict(type='CocoFormatDataset', data_root=f'{tmp_path}/',
             ann_file='ann.json', data_prefix=dict(img=''),
             metainfo=metainfo, pipeline=[], test_mode=True))


def test_coco_format_dataset_reads_classes_and_sizes_the_palette(tmp_path):
    names = [f'c{i}' for i in range(90)]  # more than COCO's 80 colours
    dataset = _build_dataset(tmp_path, names)
    assert dataset.metainfo['classes'] == tuple(names)
    assert len(dataset.metainfo['palette']) == 90
    one = _build_dataset(tmp_path, ['cell'], ids=[7])
    assert one.metainfo['classes'] == ('cell', )
    assert one.cat2label == {7: 0}


def test_coco_format_dataset_selects_classes_in_file_order(tmp_path):
    dataset = _build_dataset(tmp_path, ['a', 'b', 'c'],
                             metainfo=dict(classes=('a', 'c')))
    assert dataset.cat2label == {1: 0, 3: 1}
    # another order, or a name the file lacks, would mislabel silently
    for classes in (('c', 'a'), ('a', 'x')):
        with pytest.raises(DataCheckError, match='do not match the '
                           'categories of .*ann.json'):
            _build_dataset(tmp_path, ['a', 'b', 'c'],
                           metainfo=dict(classes=classes))
