"""mmdet_ext.datasets transforms: checked image loading (EXIF orientation
and size included), RLE -> polygons, objects without a usable mask."""
import cv2
import numpy as np
import pytest
from bad_dataset import IMG_H, IMG_W, THREE_CLASS_IDS, make_bad_dataset
from pycocotools import mask as mask_utils

from mmdet_ext.datasets import (CheckedLoadImageFromFile,
                                LoadPolygonAnnotations, RLEToPolygons,
                                mask_to_polygons)
from mmdet_ext.datasets.transforms.loading import image_defect
from mmdet_ext.utils import ImageLoadError
from mmdet_ext.utils.data_check import compressed_rle_counts, rle_defect


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


# ------------------------------------------------- EXIF orientation, size
def test_exif_rotated_images_follow_the_annotation_file(bad_data):
    images = bad_data['root'] / 'images'
    load = CheckedLoadImageFromFile()
    size = dict(height=IMG_H, width=IMG_W)
    shown = load(dict(img_path=str(images / 'exif_rotated.jpg'), **size))
    assert shown['img'].shape[:2] == (IMG_H, IMG_W)  # rotated as shown
    stored_path = str(images / 'exif_rotated_stored.jpg')
    stored = load(dict(img_path=stored_path, **size))
    # the stored pixels, not the rotated ones: the file describes them
    expected = cv2.imread(stored_path,
                          cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert stored['img'].shape[:2] == (IMG_H, IMG_W)
    assert (stored['img'] == expected).all()
    assert stored['ori_shape'] == (IMG_H, IMG_W)
    # without the file's size (e.g. the demo), OpenCV's rotation stays
    free = load(dict(img_path=stored_path))
    assert free['img'].shape[:2] == (IMG_W, IMG_H)


def test_image_of_another_size_than_the_file_says_is_refused(bad_data):
    path = str(bad_data['root'] / 'images' / 'multi_part.png')
    with pytest.raises(ImageLoadError,
                       match=f'{IMG_W}x{IMG_H} pixels, the annotation file '
                       'says 50x40'):
        CheckedLoadImageFromFile()(dict(img_path=path, height=40, width=50))


# ---------------------------------------------- objects without a mask
def test_objects_without_segmentation_are_ignored():
    """CocoDataset gives no 'mask' to an object whose segmentation is
    missing, null or []; MMDetection's LoadAnnotations would raise
    KeyError: 'mask'."""
    square = [[4., 4., 12., 4., 12., 12., 4., 12.]]
    results = dict(
        height=20, width=30, ori_shape=(20, 30),
        instances=[
            dict(bbox=[4, 4, 12, 12], bbox_label=0, ignore_flag=0),
            dict(bbox=[4, 4, 12, 12], bbox_label=0, ignore_flag=0,
                 mask=square),
        ])
    out = LoadPolygonAnnotations(with_bbox=True, with_mask=True)(results)
    assert out['gt_ignore_flags'].tolist() == [True, False]
    assert len(out['gt_masks']) == 2  # a placeholder keeps boxes aligned


@pytest.mark.parametrize('rle, defect', [
    (dict(size=[30, 20], counts=[600]), "RLE size [30, 20] is not the "
     "image's [height, width] [20, 30]"),
    (dict(size=[20, 30], counts=[500]), 'RLE counts add up to 500 pixels, '
     'not 20 x 30 = 600'),
    (dict(size=[20, 30], counts=[700, -100]), 'RLE counts are not '
     'non-negative integers'),
    (dict(size=[20, 30], counts='\x7f'), 'RLE counts do not decode'),
    (dict(counts=[600]), 'RLE without "counts" and "size"'),
])
def test_malformed_rles_are_ignored_not_decoded(rle, defect):
    """pycocotools raises, or reads past the runs, on such RLEs."""
    assert rle_defect(rle, 20, 30).startswith(defect)
    results = dict(height=20, width=30, instances=[
        dict(mask=rle, ignore_flag=0)])
    out = RLEToPolygons()(results)
    assert out['instances'][0]['mask'] is rle  # left for LoadAnnotations


def test_compressed_rle_counts_match_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = (rng.random((23, 17)) < rng.random()).astype(np.uint8)
        rle = mask_utils.encode(np.asfortranarray(mask))
        flat = mask.reshape(-1, order='F')
        runs = np.diff(np.r_[0, np.flatnonzero(np.diff(flat)) + 1,
                             flat.size]).tolist()
        expected = ([0] if flat[0] else []) + runs
        assert compressed_rle_counts(rle['counts'].decode()) == expected
        assert rle_defect(dict(size=[23, 17], counts=rle['counts'].decode()),
                          23, 17) is None


# ------------------------------------------------- polygons with holes
def test_mask_to_polygons_keeps_holes_exactly():
    rng = np.random.default_rng(1)
    for _ in range(100):
        h, w = rng.integers(3, 40, 2)
        mask = (rng.random((h, w)) < rng.uniform(0.3, 0.8)).astype(np.uint8)
        polygons = mask_to_polygons(mask, drop_collinear=True,
                                    keep_holes=True)
        if not mask.any():
            assert polygons == []
            continue
        rles = mask_utils.frPyObjects(polygons, int(h), int(w))
        assert (mask_utils.decode(mask_utils.merge(rles)) == mask).all()


def test_holes_run_against_their_outline():
    """A hole joined by a cut: one polygon whose shoelace area is the
    pixel count, and filled without keep_holes."""
    mask = np.zeros((20, 20), np.uint8)
    mask[2:18, 2:18] = 1
    mask[6:10, 6:12] = 0
    polygon, = mask_to_polygons(mask, keep_holes=True)
    xy = np.asarray(polygon).reshape(-1, 2)
    area = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], -1)) -
                     np.dot(np.roll(xy[:, 0], -1), xy[:, 1]))
    assert area == mask.sum() == 16 * 16 - 4 * 6
    assert mask_to_polygons(mask) == [[2., 2., 2., 18., 18., 18., 18., 2.]]
