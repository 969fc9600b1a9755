"""Tests of ``tools/misc/make_toy_dataset.py`` (the embedded toy dataset)."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from conftest import load_tool, run_tool

TOOL = 'tools/misc/make_toy_dataset.py'
SPLITS = ('train', 'val')

toy = load_tool(TOOL)


@pytest.fixture(scope='module')
def default_run(tmp_path_factory):
    """The default dataset (seed 0) with its loaded JSON per split."""
    out = tmp_path_factory.mktemp('toy_default')
    result = toy.make_toy_dataset(out)
    data = {s: json.loads(Path(result['ann_files'][s]).read_text())
            for s in SPLITS}
    return result, data


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def _decode(ann: dict, height: int, width: int) -> np.ndarray:
    if ann['iscrowd']:
        rle = dict(ann['segmentation'])
        rle['counts'] = rle['counts'].encode('utf-8')
    else:
        rle = mask_utils.merge(
            mask_utils.frPyObjects(ann['segmentation'], height, width))
    return mask_utils.decode(rle).astype(bool)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(mask.shape, dtype=np.uint8)
    cv2.drawContours(filled, contours, -1, 1, -1)
    return filled.astype(bool) | mask


def _plain(data: dict) -> list:
    return [a for s in SPLITS for a in data[s]['annotations']
            if not a['iscrowd']]


def test_default_layout_and_stats(default_run):
    result, data = default_run
    root = Path(result['out_dir'])
    assert result['time_s'] < 20
    for split, num in zip(SPLITS, (48, 16)):
        coco = data[split]
        assert set(coco) >= {'info', 'licenses', 'images', 'annotations',
                             'categories'}
        assert len(coco['images']) == num
        assert result['stats'][split] == toy.split_stats(coco)
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(
            im['file_name'] for im in coco['images'])
        for im in coco['images']:
            assert set(im) >= {'id', 'file_name', 'width', 'height'}
            img = cv2.imread(str(root / split / im['file_name']))
            assert img.shape == (im['height'], im['width'], 3)
            # Sizes vary per image, within +-20% of the nominal 256 x 192.
            assert 204 <= im['width'] <= 308
            assert 153 <= im['height'] <= 231
        assert len({(im['width'], im['height'])
                    for im in coco['images']}) > num // 2
        ann_ids = [a['id'] for a in coco['annotations']]
        assert len(set(ann_ids)) == len(ann_ids)
    assert [c['name'] for c in data['train']['categories']] == [
        'ellipse', 'star', 'bracket']


def test_pycocotools_loads(default_run):
    result, data = default_run
    for split in SPLITS:
        coco = COCO(result['ann_files'][split])
        assert len(coco.getImgIds()) == len(data[split]['images'])
        assert sorted(coco.getCatIds()) == [1, 2, 3]
        assert len(coco.getAnnIds()) == len(data[split]['annotations'])
        ann = coco.loadAnns(coco.getAnnIds())[0]
        img = coco.loadImgs(ann['image_id'])[0]
        assert coco.annToMask(ann).shape == (img['height'], img['width'])


def test_annotation_geometry(default_run):
    _, data = default_run
    for split in SPLITS:
        coco = data[split]
        images = {im['id']: im for im in coco['images']}
        cat_ids = {c['id'] for c in coco['categories']}
        for ann in coco['annotations']:
            im = images[ann['image_id']]
            h, w = im['height'], im['width']
            assert ann['category_id'] in cat_ids
            assert ann['area'] >= toy.MIN_VISIBLE_AREA
            if ann['iscrowd']:
                seg = ann['segmentation']
                assert isinstance(seg['counts'], str)
                assert seg['size'] == [h, w]
                rle = dict(seg, counts=seg['counts'].encode('utf-8'))
                assert ann['area'] == float(mask_utils.area(rle))
                assert np.allclose(ann['bbox'], mask_utils.toBbox(rle),
                                   atol=0.01)
                continue
            assert ann['iscrowd'] == 0
            xs, ys = [], []
            for poly in ann['segmentation']:
                assert len(poly) >= 6 and len(poly) % 2 == 0
                assert all(isinstance(v, float) for v in poly)
                assert poly == [round(v, 2) for v in poly]
                xs += poly[0::2]
                ys += poly[1::2]
            assert 0 <= min(xs) and max(xs) <= w
            assert 0 <= min(ys) and max(ys) <= h
            rle = mask_utils.merge(
                mask_utils.frPyObjects(ann['segmentation'], h, w))
            assert ann['area'] == pytest.approx(float(mask_utils.area(rle)))
            x, y, bw, bh = ann['bbox']
            assert (x, y) == pytest.approx((min(xs), min(ys)), abs=0.011)
            assert (x + bw, y + bh) == pytest.approx((max(xs), max(ys)),
                                                     abs=0.011)


def test_feature_presence(default_run):
    result, data = default_run
    plain = _plain(data)
    multipart = [a for a in plain if len(a['segmentation']) > 1]
    assert len(multipart) >= 10
    assert max(len(a['segmentation']) for a in multipart) >= 3
    ratios = []
    for ann in plain:
        if len(ann['segmentation']) != 1 or ann['area'] < 100:
            continue
        pts = np.asarray(ann['segmentation'][0], np.float32).reshape(-1, 2)
        hull = cv2.contourArea(cv2.convexHull(pts))
        ratios.append(cv2.contourArea(pts) / hull)
    ratios = np.asarray(ratios)
    assert (ratios < 0.85).sum() >= 10  # concave: stars, brackets, ...
    # Convex (ellipses); pixel-boundary staircases cost a few per cent.
    assert (ratios > 0.93).sum() >= 10
    areas = np.asarray([a['area'] for a in plain])
    assert (areas < 16**2).sum() >= 10
    assert (areas > 96**2).sum() >= 3
    for split in SPLITS:
        assert result['stats'][split]['empty_images'] >= 1
        assert result['stats'][split]['annotations'] > 0
        used = {a['image_id'] for a in data[split]['annotations']}
        assert len(used) < len(data[split]['images'])
    crowd = [a for s in SPLITS for a in data[s]['annotations']
             if a['iscrowd']]
    assert len(crowd) >= 1
    per_cat = np.bincount([a['category_id'] for a in plain], minlength=4)
    assert per_cat[1:].min() >= 0.2 * len(plain)
    # Objects overlap: some images have intersecting boxes.
    overlaps = 0
    for split in SPLITS:
        by_img = {}
        for a in data[split]['annotations']:
            by_img.setdefault(a['image_id'], []).append(a['bbox'])
        for boxes in by_img.values():
            b = np.asarray(boxes)
            x1 = np.maximum(b[:, None, 0], b[None, :, 0])
            x2 = np.minimum(b[:, None, 0] + b[:, None, 2],
                            b[None, :, 0] + b[None, :, 2])
            y1 = np.maximum(b[:, None, 1], b[None, :, 1])
            y2 = np.minimum(b[:, None, 1] + b[:, None, 3],
                            b[None, :, 1] + b[None, :, 3])
            inter = (x2 > x1) & (y2 > y1)
            overlaps += int(inter.sum() - len(b)) // 2
    assert overlaps >= 10


def test_segmentation_matches_pixels(default_run):
    """Objects are saturated in their class hue; background is grey."""
    result, data = default_run
    root = Path(result['out_dir'])
    hue_ok, checked = 0, 0
    for split in SPLITS:
        coco = data[split]
        by_img = {}
        for a in coco['annotations']:
            by_img.setdefault(a['image_id'], []).append(a)
        for im in coco['images']:
            bgr = cv2.imread(str(root / split / im['file_name']))
            hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
            sat = hsv[..., 1]
            union = np.zeros(sat.shape, dtype=bool)
            for ann in by_img.get(im['id'], []):
                mask = _decode(ann, im['height'], im['width'])
                union |= mask
                assert (sat[mask] >= 100).mean() > 0.9
                if ann['iscrowd'] or ann['area'] < 30:
                    continue
                expected = toy.category_hue(ann['category_id'] - 1, 3)
                diff = np.abs(np.median(hsv[..., 0][mask]) - expected)
                hue_ok += min(diff, 180 - diff) <= 12
                checked += 1
            assert (sat[~union] >= 100).mean() < 0.01
            # Annotations are tight: the 1-px ring around them is grey.
            ring = cv2.dilate(union.astype(np.uint8), np.ones((3, 3)))
            ring = ring.astype(bool) & ~union
            if ring.any():
                assert (sat[ring] >= 100).mean() < 0.02
    assert checked > 100 and hue_ok >= 0.95 * checked


def test_polygons_reproduce_id_raster():
    """Rasterised annotations equal the visible regions (holes filled)."""
    seen_parts = 0
    for index in range(12):
        rng = np.random.default_rng(index)
        _, id_map, instances = toy.render_sample(
            rng, 200, 150, num_classes=4, crowd=index % 3 == 0)
        anns = toy.annotate_instances(id_map, instances)
        assert len(anns) == len(instances)
        for inst, ann in zip(instances, anns):
            visible = id_map == inst['id']
            mask = _decode(ann, 150, 200)
            if inst['iscrowd']:
                assert np.array_equal(mask, visible)
            else:
                assert np.array_equal(mask, _fill_holes(visible))
                seen_parts += len(ann['segmentation'])
            assert visible.sum() >= toy.MIN_VISIBLE_AREA
        assert set(np.unique(id_map)) <= {0} | {i['id'] for i in instances}
    assert seen_parts > 12


def test_mask_to_polygons_exact_cases():
    mask = np.zeros((10, 12), dtype=bool)
    assert toy.mask_to_polygons(mask) == []
    mask[3, 4] = True
    assert toy.mask_to_polygons(mask) == [[4., 3., 4., 4., 5., 4., 5., 3.]]
    mask[:] = False
    mask[2:8, 1:4] = True  # L shape: vertical bar plus foot
    mask[6:8, 4:9] = True
    mask[0, 11] = True  # a separate corner pixel
    polys = toy.mask_to_polygons(mask)
    assert sorted(len(p) for p in polys) == [8, 12]
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, 10, 12))
    assert np.array_equal(mask_utils.decode(rle).astype(bool), mask)
    assert all(0 <= v <= 12 for p in polys for v in p[0::2])


def test_determinism(default_run, tmp_path):
    result, _ = default_run
    again = toy.make_toy_dataset(tmp_path / 'again')
    first, second = _files(Path(result['out_dir'])), _files(tmp_path /
                                                             'again')
    assert len(first) == 48 + 16 + 2
    assert first == second
    assert again['stats'] == result['stats']
    # Image i does not depend on the number of images.
    small = toy.make_toy_dataset(tmp_path / 'small', num_train=3, num_val=3)
    small_files = _files(tmp_path / 'small')
    images = [n for n in small_files if n.endswith('.png')]
    assert len(images) == 6
    for name in images:
        assert small_files[name] == first[name]
    # Another seed gives other images and annotations.
    other = toy.make_toy_dataset(tmp_path / 'seed1', seed=1, num_train=3,
                                 num_val=3)
    other_files = _files(tmp_path / 'seed1')
    for name in ('train/train_000001.png', 'val/val_000001.png',
                 'annotations/instances_train.json'):
        assert other_files[name] != small_files[name]
    img_a = cv2.imread(str(tmp_path / 'small/train/train_000001.png'))
    img_b = cv2.imread(str(tmp_path / 'seed1/train/train_000001.png'))
    assert img_a.shape != img_b.shape or not np.array_equal(img_a, img_b)


@pytest.mark.parametrize('num_classes', [1, 2, 8])
def test_num_classes(tmp_path, num_classes):
    result = toy.make_toy_dataset(tmp_path, num_train=10, num_val=3,
                                  num_classes=num_classes,
                                  img_size=(160, 120))
    train = json.loads(Path(result['ann_files']['train']).read_text())
    val = json.loads(Path(result['ann_files']['val']).read_text())
    for coco in (train, val):
        cats = coco['categories']
        assert [c['id'] for c in cats] == list(range(1, num_classes + 1))
        assert len({c['name'] for c in cats}) == num_classes
        assert all(c['supercategory'] in ('convex', 'concave') for c in cats)
        assert {a['category_id'] for a in coco['annotations']} <= {
            c['id'] for c in cats}
    used = {a['category_id'] for a in train['annotations']}
    if num_classes == 1:
        assert used == {1}
    else:
        assert len(used) >= 2
    assert 96 <= min(im['width'] for im in train['images'])
    assert max(im['width'] for im in train['images']) <= 192


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError):
        toy.make_toy_dataset(tmp_path, num_classes=0)
    with pytest.raises(ValueError):
        toy.make_toy_dataset(tmp_path, seed=-1)
    with pytest.raises(ValueError):
        toy.make_toy_dataset(tmp_path, num_train=-1)
    with pytest.raises(ValueError):
        toy.make_toy_dataset(tmp_path, img_size=(16, 16))
    assert not any(tmp_path.iterdir())


def test_existing_output_needs_force(tmp_path):
    toy.make_toy_dataset(tmp_path, num_train=2, num_val=1)
    (tmp_path / 'train' / 'stale.png').write_bytes(b'x')
    keep = tmp_path / 'notes.txt'
    keep.write_text('not ours')
    with pytest.raises(FileExistsError):
        toy.make_toy_dataset(tmp_path, num_train=2, num_val=1)
    result = toy.make_toy_dataset(tmp_path, num_train=1, num_val=1,
                                  force=True)
    assert sorted(p.name for p in (tmp_path / 'train').iterdir()) == [
        'train_000001.png']
    assert keep.read_text() == 'not ours'
    assert result['stats']['train']['images'] == 1


def test_cli(tmp_path, capsys):
    """The command line once (arguments, one summary line), then ``main``
    in-process for an existing output (exit 1, one error line) and
    ``--force``."""
    out = tmp_path / 'cli'
    args = [str(out), '--num-train', '3', '--num-val', '2', '--img-size',
            '128', '96', '--num-classes', '2', '--seed', '5']
    lines = run_tool([sys.executable, TOOL, *args]).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f'toy dataset -> {out}: 5 images (train 3 / val 2, ')
    coco = json.loads((out / 'annotations' / 'instances_val.json')
                      .read_text())
    assert len(coco['images']) == 2 and len(coco['categories']) == 2
    assert coco['info']['generator']['seed'] == 5
    assert coco['info']['generator']['img_size'] == [128, 96]
    assert toy.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'exists' in err
    assert '\n' not in err
    assert toy.main(args + ['--force']) == 0
    assert capsys.readouterr().out.startswith(f'toy dataset -> {out}: ')


def test_cocoeval_ground_truth_scores_one(default_run):
    """Ground truth fed back as predictions gets mask AP 1 (crowd ignored)."""
    from pycocotools.cocoeval import COCOeval
    result, _ = default_run
    gt = COCO(result['ann_files']['val'])
    preds = []
    for ann in gt.dataset['annotations']:
        if ann['iscrowd']:
            continue
        rle = gt.annToRLE(ann)
        rle['counts'] = rle['counts'].decode('utf-8')
        preds.append(dict(image_id=ann['image_id'], segmentation=rle,
                          category_id=ann['category_id'], score=1.0))
    evaluator = COCOeval(gt, gt.loadRes(preds), 'segm')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)


def test_mmdet_coco_dataset_loads(tmp_path):
    """mmdet's CocoDataset + LoadAnnotations read masks with exact areas."""
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules()
    result = toy.make_toy_dataset(tmp_path, num_train=6, num_val=3)
    coco = json.loads(Path(result['ann_files']['train']).read_text())
    dataset = CocoDataset(
        data_root=str(tmp_path),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=tuple(c['name']
                                    for c in result['categories'])),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
        ])
    assert len(dataset) == 6
    for index in range(len(dataset)):
        item = dataset[index]
        img_id = dataset.get_data_info(index)['img_id']
        anns = [a for a in coco['annotations'] if a['image_id'] == img_id]
        masks = item['gt_masks']
        assert item['img'].shape[:2] == (masks.height, masks.width)
        assert len(masks) == len(anns)
        assert item['gt_ignore_flags'].tolist() == [
            bool(a['iscrowd']) for a in anns]
        assert [float(m.sum()) for m in masks.masks] == [
            a['area'] for a in anns]
        assert item['gt_bboxes_labels'].tolist() == [
            a['category_id'] - 1 for a in anns]
