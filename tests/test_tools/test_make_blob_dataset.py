"""Tests of ``tools/misc/make_blob_dataset.py`` (one-class small blobs)."""
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from conftest import load_tool

blobs = load_tool('tools/misc/make_blob_dataset.py')


@pytest.fixture(scope='module')
def default_set(tmp_path_factory):
    out = tmp_path_factory.mktemp('blobs')
    result = blobs.make_blob_dataset(str(out))
    data = json.loads(Path(result['ann_file']).read_text())
    assert (result['num_images'], result['num_blobs']) == (
        len(data['images']), len(data['annotations']))
    return out, data


def test_one_class_of_small_separate_blobs(default_set):
    out, data = default_set
    assert data['categories'] == [dict(id=1, name='blob')]
    assert len(data['images']) == 4
    per_image = {img['id']: [] for img in data['images']}
    for ann in data['annotations']:
        per_image[ann['image_id']].append(ann)
    for img in data['images']:
        assert (out / 'train' / img['file_name']).is_file()
        anns = per_image[img['id']]
        assert 10 <= len(anns) <= 13
        h, w = img['height'], img['width']
        masks = [
            mask_utils.decode(
                mask_utils.merge(
                    mask_utils.frPyObjects(a['segmentation'], h, w)))
            for a in anns
        ]
        for ann, mask in zip(anns, masks):
            assert ann['category_id'] == 1 and ann['iscrowd'] == 0
            # radius 5-20 px, lobes and squash: 25-1700 px^2
            assert 25 < ann['area'] < 1700
            assert abs(int(mask.sum()) - ann['area']) < 0.3 * ann['area']
            x, y, bw, bh = ann['bbox']
            assert 0 <= x and x + bw <= w and 0 <= y and y + bh <= h
        # separate: no pixel in two blobs
        assert np.stack(masks).sum(0).max() == 1


def test_deterministic_per_seed(default_set, tmp_path):
    out, data = default_set
    again = json.loads(Path(blobs.make_blob_dataset(
        str(tmp_path / 'same'))['ann_file']).read_text())
    assert again == data
    assert ((tmp_path / 'same/train/000001.jpg').read_bytes() ==
            (out / 'train/000001.jpg').read_bytes())
    other = json.loads(Path(blobs.make_blob_dataset(
        str(tmp_path / 'other'), seed=1)['ann_file']).read_text())
    assert other['annotations'] != data['annotations']


@pytest.mark.parametrize('kwargs, message', [
    (dict(radius=(0., 5.)), 'radius'),
    (dict(radius=(9., 5.)), 'radius'),
    (dict(num_objects=(3, 2)), 'num_objects'),
    (dict(radius=(5., 200.)), 'too small'),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        blobs.make_blob_dataset(str(tmp_path), **kwargs)
