"""tools/dataset_converters: LabelMe, YOLO segmentation and instance-mask
PNGs to a COCO-format folder, with round trips on generated data."""
import base64
import io
import json

import cv2
import numpy as np
import pytest
from mmengine.config import ConfigDict
from PIL import Image
from pycocotools import mask as mask_utils

from conftest import load_tool
from mmdet_ext.utils import check_dataset, read_class_names

labelme = load_tool('tools/dataset_converters/labelme2coco.py')
yolo = load_tool('tools/dataset_converters/yolo2coco.py')
masks = load_tool('tools/dataset_converters/masks2coco.py')
writer = load_tool('tools/dataset_converters/coco_writer.py')


# ----------------------------------------------------------------- helpers
def _image(path, width, height, exif_orientation=None):
    """A noise image; with ``exif_orientation`` a JPEG stored as given
    (viewers rotate it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3),
                                               dtype=np.uint8)
    img = Image.fromarray(pixels)
    if exif_orientation is None:
        img.save(path)
        return path
    exif = Image.Exif()
    exif[0x0112] = exif_orientation
    img.save(path, 'JPEG', exif=exif.tobytes())
    return path


def _load(out_dir, split):
    return json.loads(
        (out_dir / 'annotations' / f'instances_{split}.json').read_text())


def _decode(segmentation, height, width):
    rles = mask_utils.frPyObjects(segmentation, height, width)
    return mask_utils.decode(mask_utils.merge(rles))


def _checked(out_dir, split):
    """The output passes the pre-flight check as an evaluated dataset."""
    cfg = ConfigDict(
        type='CocoFormatDataset', data_root=f'{out_dir}/',
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'{split}/'),
        pipeline=[dict(type='LoadImageFromFile')])
    check_dataset(cfg, evaluated=True)


# ----------------------------------------------------------- coco_writer
def test_splits_are_evenly_spread_and_stable():
    names = [f'{i:02d}.jpg' for i in range(12)]
    splits = writer.assign_splits(names, 0.2)
    assert [n for n in names if splits[n] == 'val'] == ['04.jpg', '09.jpg']
    assert set(writer.assign_splits(names, 0.).values()) == {'train'}
    with pytest.raises(writer.ConversionError, match='val-ratio'):
        writer.assign_splits(names, 1.)


def test_polygons_are_clamped_and_cleaned():
    assert writer.clean_polygon([-5, 2, 50.004, 2, 50, 40], 40, 30) == \
        [0., 2., 40., 2., 40., 30.]
    # repeated vertices, too few distinct ones, non-finite: dropped
    assert writer.clean_polygon([1, 1, 1, 1, 5, 5, 5, 5], 10, 10) is None
    assert writer.clean_polygon([1, 1, float('nan'), 1, 5, 5], 10, 10) \
        is None
    coco = writer.CocoWriter(writer.make_categories(['a']))
    image_id = coco.add_image('a.png', 10, 10)
    assert coco.add_object(image_id, 1, [[1, 1, 2, 2]]) is None
    assert coco.skipped == {'no polygon with 3 points in the image': 1}
    ann = coco.add_object(image_id, 1, [[0, 0, 4, 0, 4, 2, 0, 2]])
    assert ann['area'] == 8. and ann['bbox'] == [0., 0., 4., 2.]


# -------------------------------------------------------------- labelme
def _labelme_json(path, image_path, width, height, shapes,
                  image_data=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(
        version='5.4.1', flags={}, shapes=shapes, imagePath=image_path,
        imageData=image_data, imageHeight=height, imageWidth=width)))


def _shape(label, points, kind='polygon', group_id=None):
    return dict(label=label, points=points, shape_type=kind,
                group_id=group_id, flags={})


@pytest.fixture(scope='module')
def labelme_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('labelme')
    _image(root / 'a.png', 100, 80)
    _labelme_json(root / 'a.json', 'a.png', 100, 80, [
        _shape('cat', [[10, 10], [40, 10], [25, 30]]),
        _shape('dog', [[50, 40], [90, 70]], 'rectangle'),
        _shape('cat', [[70, 20], [70, 30]], 'circle'),
        # one object in two parts (same label and group_id)
        _shape('bird', [[5, 50], [20, 50], [20, 70], [5, 70]], group_id=3),
        _shape('bird', [[30, 60], [45, 60], [45, 75]], group_id=3),
        _shape('cat', [[0, 0], [99, 79]], 'line'),
    ])
    # an image only embedded in its JSON, in a sub-folder
    buffer = io.BytesIO()
    Image.new('RGB', (64, 48), (200, 10, 10)).save(buffer, 'PNG')
    _labelme_json(root / 'sub' / 'b.json', 'b.png', 64, 48,
                  [_shape('dog', [[1, 1], [30, 1], [30, 20], [1, 20]])],
                  base64.b64encode(buffer.getvalue()).decode())
    (root / 'notes.json').write_text('{"not": "labelme"}')
    return root


def test_labelme_polygons_rectangles_circles_and_parts(labelme_dir,
                                                       tmp_path):
    writers, skipped = labelme.convert_labelme(str(labelme_dir), tmp_path)
    coco = _load(tmp_path, 'train')
    assert [c['name'] for c in coco['categories']] == ['bird', 'cat', 'dog']
    assert [img['file_name'] for img in coco['images']] == [
        'a.png', 'sub/b.png'
    ]
    assert (tmp_path / 'train' / 'sub' / 'b.png').is_file()
    anns = [a for a in coco['annotations'] if a['image_id'] == 1]
    by_cat = {}
    for ann in anns:
        by_cat.setdefault(ann['category_id'], []).append(ann)
    triangle, circle = by_cat[2]
    assert triangle['segmentation'] == [[10, 10, 40, 10, 25, 30]]
    assert len(circle['segmentation'][0]) == 2 * labelme.CIRCLE_VERTICES
    assert circle['bbox'] == pytest.approx([60, 10, 20, 20], abs=0.01)
    rectangle, = by_cat[3]
    assert rectangle['segmentation'] == [[50, 40, 90, 40, 90, 70, 50, 70]]
    assert rectangle['area'] == 40 * 30
    bird, = by_cat[1]
    assert len(bird['segmentation']) == 2  # one object, two parts
    assert skipped == {"'line' shapes": 1,
                       'JSON files that are not LabelMe annotations': 1}
    _checked(tmp_path, 'train')


def test_labelme_classes_file_and_val_split(labelme_dir, tmp_path):
    classes = tmp_path / 'labels.txt'
    classes.write_text('__ignore__\n_background_\ndog\ncat\n')
    assert labelme.main([str(labelme_dir), str(tmp_path / 'out'),
                         '--classes', str(classes), '--val-ratio',
                         '0.5']) == 0
    train = _load(tmp_path / 'out', 'train')
    val = _load(tmp_path / 'out', 'val')
    assert [img['file_name'] for img in train['images']] == ['a.png']
    assert [img['file_name'] for img in val['images']] == ['sub/b.png']
    assert read_class_names(
        str(tmp_path / 'out' / 'annotations' /
            'instances_val.json')) == ('dog', 'cat')
    # the bird (two parts) is not a class: left out
    assert len(train['annotations']) == 3


def test_labelme_errors_are_one_line(tmp_path, capsys):
    assert labelme.main([str(tmp_path), str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: no LabelMe JSON with an image found in ')
    assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------- yolo
def _merge_parts(parts):
    """Ultralytics' way of writing a two-part object: the parts joined at
    their closest vertices, each joining vertex visited twice."""
    a, b = (np.asarray(p, float).reshape(-1, 2) for p in parts)
    dist = ((a[:, None] - b[None]) ** 2).sum(-1)
    i, j = np.unravel_index(dist.argmin(), dist.shape)
    a = np.roll(a, -i, axis=0)
    b = np.roll(b, -j, axis=0)
    return np.concatenate([a, a[:1], b, b[:1]]).reshape(-1).tolist()


def _yolo_line(index, polygon, width, height):
    xy = np.asarray(polygon, float).reshape(-1, 2) / [width, height]
    return ' '.join([str(index)] + [f'{v:.6f}' for v in xy.reshape(-1)])


@pytest.fixture(scope='module')
def yolo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('yolo')
    images, labels = root / 'images' / 'train', root / 'labels' / 'train'
    _image(images / '000000000042.png', 200, 100)
    # stored 100 x 200, shown (EXIF 6) 200 x 100: labels are normalised to
    # the shown image
    _image(images / '000000000007.jpg', 100, 200, exif_orientation=6)
    _image(images / '000000000099.png', 50, 50)  # no label file
    labels.mkdir(parents=True)
    square = [10, 10, 50, 10, 50, 50, 10, 50]
    far = [120, 20, 180, 20, 150, 80]
    lines = [
        _yolo_line(0, square, 200, 100),
        _yolo_line(1, _merge_parts([square, far]), 200, 100),
        '1 0.5 0.5 0.2 0.4',  # a box
        '0 1.5 0.1 0.2 0.2 0.3 0.4',  # pixel coordinates: skipped
        '7 0.1 0.1 0.2 0.1 0.2 0.2',  # class without a name: skipped
    ]
    (labels / '000000000042.txt').write_text('\n'.join(lines) + '\n')
    (labels / '000000000007.txt').write_text(
        _yolo_line(1, far, 200, 100) + '\n')
    (root / 'data.yaml').write_text('names:\n  0: person\n  1: car\n')
    return root, square, far


def test_yolo_round_trip_with_merged_parts_and_boxes(yolo_dir, tmp_path):
    root, square, far = yolo_dir
    writers, skipped = yolo.convert_yolo(
        str(root / 'images' / 'train'), str(root / 'labels' / 'train'),
        str(tmp_path), class_names=['person', 'car'], category_ids=[1, 3],
        image_ids_from_names=True)
    coco = _load(tmp_path, 'train')
    assert [(img['id'], img['width'], img['height'])
            for img in coco['images']] == [(7, 200, 100), (42, 200, 100),
                                           (99, 50, 50)]
    anns = [a for a in coco['annotations'] if a['image_id'] == 42]
    assert [a['category_id'] for a in anns] == [1, 3, 3]
    assert anns[0]['segmentation'] == [square]
    # the merged polygon comes back as its two parts
    merged = anns[1]['segmentation']
    assert sorted(map(sorted, merged)) == sorted(map(sorted, [square, far]))
    assert anns[2]['segmentation'] == [[80, 30, 120, 30, 120, 70, 80, 70]]
    assert skipped == {'objects with coordinates outside [0, 1]': 1,
                       'objects of a class index without a name': 1}
    exif_ann, = [a for a in coco['annotations'] if a['image_id'] == 7]
    assert exif_ann['segmentation'] == [far]
    _checked(tmp_path, 'train')


def test_yolo_command_line_reads_data_yaml(yolo_dir, tmp_path, capsys):
    root, _, _ = yolo_dir
    assert yolo.main([str(root), str(tmp_path), '--classes',
                      str(root / 'data.yaml'), '--images',
                      str(root / 'images'), '--labels',
                      str(root / 'labels')]) == 0
    coco = _load(tmp_path, 'train')
    assert [c['name'] for c in coco['categories']] == ['person', 'car']
    assert coco['images'][0]['file_name'] == 'train/000000000007.jpg'
    assert 'yolo2coco: train 3 images / 4 objects, 2 classes' in \
        capsys.readouterr().out


def test_split_at_repeated_vertices():
    a, b, c = (0, 0), (1, 0), (0, 1)
    assert yolo.split_at_repeated_vertices([a, b, c]) == [[a, b, c]]
    # three parts joined in a chain (Ultralytics' middle part is split in
    # two runs): p..p q..r s..s r..q
    p, q, r, s = (5, 5), (10, 0), (12, 2), (20, 0)
    walk = [p, (6, 5), (6, 6), p, q, (11, 0), r, s, (21, 0), (21, 1), s, r,
            (10, 2), q]
    assert sorted(yolo.split_at_repeated_vertices(walk)) == sorted([
        [p, (6, 5), (6, 6)], [s, (21, 0), (21, 1)],
        [q, (11, 0), r, (10, 2)]
    ])


# ---------------------------------------------------------------- masks
def _instance_map():
    """Ids: 1 a square with a hole, 2 two blobs, 3 one pixel, 4 an L."""
    id_map = np.zeros((60, 80), np.uint8)
    id_map[5:35, 5:35] = 1
    id_map[15:25, 15:25] = 0  # hole
    id_map[18:22, 18:22] = 3  # an island inside the hole, another object
    id_map[40:50, 10:20] = 2
    id_map[40:55, 60:75] = 2
    id_map[50, 40] = 3
    id_map[5:30, 45:50] = 4
    id_map[25:30, 45:70] = 4
    return id_map


@pytest.fixture(scope='module')
def mask_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp('masks')
    (root / 'masks').mkdir()
    _image(root / 'images' / 'a.jpg', 80, 60)
    cv2.imwrite(str(root / 'masks' / 'a.png'), _instance_map())
    # 16-bit Cityscapes-style ids: category = id // 1000
    _image(root / 'images' / 'b.png', 40, 30)
    city = np.zeros((30, 40), np.uint16)
    city[2:10, 2:10] = 26001
    city[12:20, 2:10] = 26002
    city[2:10, 20:30] = 24001
    city[25:, :] = 7  # "stuff" below the divisor
    cv2.imwrite(str(root / 'masks' / 'b.png'), city)
    _image(root / 'images' / 'c.png', 20, 20)  # another size than its mask
    cv2.imwrite(str(root / 'masks' / 'c.png'), np.ones((10, 10), np.uint8))
    return root


def test_masks_round_trip_keeps_holes_and_parts(mask_dirs, tmp_path):
    root = mask_dirs
    writers, skipped = masks.convert_masks(
        str(root / 'images'), str(root / 'masks'), str(tmp_path),
        class_name='thing')
    coco = _load(tmp_path, 'train')
    assert coco['categories'] == [dict(id=1, name='thing')]
    assert skipped == {'images of another size than their mask': 1}
    id_map = _instance_map()
    anns = [a for a in coco['annotations'] if a['image_id'] == 1]
    assert len(anns) == 4
    for value, ann in zip((1, 2, 3, 4), anns):
        expected = (id_map == value).astype(np.uint8)
        restored = _decode(ann['segmentation'], 60, 80)
        assert (restored == expected).all(), value  # IoU 1: exact
        assert ann['area'] == expected.sum()
        x, y, w, h = cv2.boundingRect(expected)
        assert ann['bbox'] == [x, y, w, h]
    assert len(anns[1]['segmentation']) == 2  # two parts
    _checked(tmp_path, 'train')


def test_masks_fill_holes_and_id_divisor(mask_dirs, tmp_path):
    root = mask_dirs
    masks.convert_masks(str(root / 'images'), str(root / 'masks'),
                        str(tmp_path / 'filled'), keep_holes=False)
    ann = _load(tmp_path / 'filled', 'train')['annotations'][0]
    filled = np.zeros((60, 80), np.uint8)
    filled[5:35, 5:35] = 1
    assert (_decode(ann['segmentation'], 60, 80) == filled).all()

    assert masks.main([str(root / 'images'), str(root / 'masks'),
                       str(tmp_path / 'city'), '--id-divisor', '1000']) == 0
    coco = _load(tmp_path / 'city', 'train')
    assert coco['categories'] == [dict(id=24, name='class_24'),
                                  dict(id=26, name='class_26')]
    city = [a for a in coco['annotations'] if a['image_id'] == 2]
    assert sorted(a['category_id'] for a in city) == [24, 26, 26]


def test_rgb_masks_give_one_object_per_colour(tmp_path):
    _image(tmp_path / 'images' / 'a.png', 30, 20)
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[2:8, 2:8] = (255, 0, 0)
    rgb[10:18, 2:8] = (0, 0, 255)
    rgb[2:8, 20:28] = (255, 0, 1)
    (tmp_path / 'masks').mkdir()
    Image.fromarray(rgb).save(tmp_path / 'masks' / 'a.png')
    masks.convert_masks(str(tmp_path / 'images'), str(tmp_path / 'masks'),
                        str(tmp_path / 'out'))
    assert len(_load(tmp_path / 'out', 'train')['annotations']) == 3
