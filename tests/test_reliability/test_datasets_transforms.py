"""mmdet_ext.datasets transforms: checked image loading, RLE -> polygons."""
import numpy as np
import pytest
from bad_dataset import THREE_CLASS_IDS, make_bad_dataset
from pycocotools import mask as mask_utils

from mmdet_ext.datasets import (CheckedLoadImageFromFile,
                                LoadPolygonAnnotations, RLEToPolygons)
from mmdet_ext.datasets.transforms.loading import image_defect
from mmdet_ext.utils import ImageLoadError


@pytest.fixture(scope='module')
def bad_data(tmp_path_factory):
    return make_bad_dataset(
        tmp_path_factory.mktemp('bad_data'), cat_ids=THREE_CLASS_IDS)


def _poly_mask(polygons, h, w):
    rles = mask_utils.frPyObjects(polygons, h, w)
    return mask_utils.decode(mask_utils.merge(rles))


def test_image_defect(bad_data):
    images = bad_data['root'] / 'images'
    assert image_defect((images / 'jpeg.jpg').read_bytes()) is None
    assert image_defect((images / 'multi_part.png').read_bytes()) is None
    assert image_defect((images / 'truncated_jpeg.jpg').read_bytes()) == \
        'truncated JPEG (no end marker)'
    png = (images / 'multi_part.png').read_bytes()
    assert image_defect(png[:len(png) // 2]) == \
        'truncated PNG (no IEND chunk)'
    assert image_defect(b'') == 'empty file'
    # trailing data after a complete image (appended thumbnail/video): fine
    jpeg = (images / 'jpeg.jpg').read_bytes()
    assert image_defect(jpeg + b'\0' * 1000 + b'appended') is None
    assert image_defect(png + b'\0' * 1000) is None


@pytest.mark.parametrize('name,reason', [
    ('truncated_jpeg.jpg', 'truncated JPEG'),
    ('not_an_image.png', 'cannot decode'),
    ('missing_image.png', 'image file not found'),
])
def test_checked_loading_names_the_file(bad_data, name, reason):
    path = str(bad_data['root'] / 'images' / name)
    with pytest.raises(ImageLoadError, match=reason) as info:
        CheckedLoadImageFromFile()(dict(img_path=path))
    assert path in str(info.value)
    # skip_bad: the dataset draws another sample instead
    assert CheckedLoadImageFromFile(skip_bad=True)(
        dict(img_path=path)) is None


def test_rle_to_polygons_keeps_every_part():
    mask = np.zeros((40, 60), np.uint8)
    mask[5:20, 5:25] = 1
    mask[25:38, 30:55] = 1
    mask[10:14, 12:16] = 0  # a hole: filled, as in COCO polygons
    rle = mask_utils.encode(np.asfortranarray(mask))
    results = dict(
        height=40,
        width=60,
        instances=[
            dict(mask=dict(size=[40, 60], counts=rle['counts'].decode()),
                 ignore_flag=0),
            dict(mask=dict(size=[40, 60], counts=rle['counts'].decode()),
                 ignore_flag=1),  # crowd: untouched
        ])
    out = RLEToPolygons()(results)
    polygons = out['instances'][0]['mask']
    assert isinstance(polygons, list) and len(polygons) == 2
    filled = mask.copy()
    filled[10:14, 12:16] = 1
    restored = _poly_mask(polygons, 40, 60)
    iou = (restored & filled).sum() / (restored | filled).sum()
    assert iou == 1.0  # pixel-exact
    assert isinstance(out['instances'][1]['mask'], dict)


def test_rle_to_polygons_uncompressed_and_empty():
    mask = np.zeros((20, 30), np.uint8)
    mask[4:12, 6:20] = 1
    flat = mask.reshape(-1, order='F')
    change = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.r_[0, change, flat.size]).tolist()
    results = dict(height=20, width=30, instances=[
        dict(mask=dict(size=[20, 30], counts=counts), ignore_flag=0),
        dict(mask=dict(size=[20, 30], counts=[600]), ignore_flag=0),
    ])
    out = RLEToPolygons()(results)
    restored = _poly_mask(out['instances'][0]['mask'], 20, 30)
    assert (restored == mask).all()
    # empty mask: stays RLE, so LoadAnnotations ignores the object
    assert isinstance(out['instances'][1]['mask'], dict)


def test_load_polygon_annotations_keeps_rle_objects():
    mask = np.zeros((20, 30), np.uint8)
    mask[4:12, 6:20] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    results = dict(
        height=20,
        width=30,
        ori_shape=(20, 30),
        instances=[
            dict(bbox=[6, 4, 20, 12], bbox_label=1, ignore_flag=0,
                 mask=dict(size=[20, 30], counts=rle['counts'].decode()))
        ])
    out = LoadPolygonAnnotations(with_bbox=True, with_mask=True)(results)
    assert out['gt_ignore_flags'].tolist() == [False]
    assert out['gt_masks'].areas.tolist() == [112.0]  # 8 x 14, exact
    with pytest.raises(ValueError, match='poly2mask'):
        LoadPolygonAnnotations(poly2mask=True)
