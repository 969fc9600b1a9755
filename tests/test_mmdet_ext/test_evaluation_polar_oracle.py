"""Tests of :mod:`mmdet_ext.evaluation.polar_oracle` (oracle polar masks;
the command line is tested in tests/test_tools/test_polar_oracle.py)."""
import json
import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from conftest import COCO128_ROOT
from mmdet_ext.evaluation import run_oracle, segm_metrics
from mmdet_ext.evaluation.coco_segm_eval import load_coco
from mmdet_ext.structures.mask_tracing import rle_to_polygons

COCO128_VAL = COCO128_ROOT / 'annotations' / 'instances_val.json'
HEIGHT, WIDTH = 160, 200


def square(x, y, side):
    return [x, y, x + side, y, x + side, y + side, x, y + side]


# A C open to the right: 100 x 100 with a 70 x 40 notch; its area centroid
# (44.2, 70) lies in the notch, outside the object.
C_SHAPE = [
    20, 20, 120, 20, 120, 50, 50, 50, 50, 90, 120, 90, 120, 120, 20, 120
]


def disk_rle(cx=160, cy=80, radius=25):
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    disk = ((yy - cy)**2 + (xx - cx)**2 < radius**2).astype(np.uint8)
    rle = mask_utils.encode(np.asfortranarray(disk))
    rle['counts'] = rle['counts'].decode()
    return rle


def write_coco(path, images, categories=((1, 'a'), (7, 'b'))):
    """COCO json from a list (per image) of partial annotation dicts."""
    image_infos, anns = [], []
    for index, objects in enumerate(images):
        image_infos.append({
            'id': index + 1,
            'width': WIDTH,
            'height': HEIGHT,
            'file_name': f'{index}.jpg'
        })
        for obj in objects:
            ann = {'iscrowd': 0, 'category_id': 1, 'bbox': [0, 0, 1, 1]}
            ann.update(obj, id=len(anns) + 1, image_id=index + 1)
            segm = ann.get('segmentation')
            parts = [p for p in segm or [] if len(p) >= 6] \
                if isinstance(segm, list) else []
            if parts:
                rle = mask_utils.merge(
                    mask_utils.frPyObjects(parts, HEIGHT, WIDTH))
                ann['area'] = float(mask_utils.area(rle))
            elif isinstance(segm, dict):
                ann['area'] = float(mask_utils.area(segm))
            else:
                ann['area'] = 0.0
            anns.append(ann)
    data = {
        'images': image_infos,
        'annotations': anns,
        'categories': [{
            'id': cid,
            'name': name
        } for cid, name in categories]
    }
    path.write_text(json.dumps(data))
    return str(path)


def square_polygon_iou(num_rays):
    """Area of the K-gon inscribed (by rays from the centre) in a unit
    square, over the square's area: the exact oracle IoU of a square."""
    theta = 2 * np.pi * np.arange(num_rays) / num_rays
    radius = 0.5 / np.maximum(np.abs(np.cos(theta)), np.abs(np.sin(theta)))
    step = 2 * np.pi / num_rays
    return float(0.5 * np.sum(radius * np.roll(radius, -1)) * np.sin(step))


@pytest.fixture(scope='module')
def squares_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('oracle') / 'squares.json'
    return write_coco(path, [
        [{'segmentation': [square(10, 10, 40)]},
         {'segmentation': [square(100, 60, 60)], 'category_id': 7}],
        [{'segmentation': [square(30, 30, 50)]}],
    ])


def test_squares_are_nearly_exact(squares_file):
    result = run_oracle(squares_file, num_rays=36)
    assert result['num_objects'] == result['num_predicted'] == 3
    assert result['AP50'] == 1.0 and result['AP'] > 0.99
    assert result['mean_iou'] > 0.95
    # The only loss is the cut corners: the analytic K-gon area.
    assert result['mean_iou'] == pytest.approx(
        square_polygon_iou(36), abs=0.01)
    assert result['origin_inside_fraction'] == 1.0
    assert math.isnan(result['mean_iou_large'])  # no object above 96^2


def test_more_rays_fit_a_square_better(squares_file):
    ious = {
        k: run_oracle(squares_file, num_rays=k)['mean_iou']
        for k in (8, 12, 18, 36)
    }
    assert ious[12] < ious[18] < ious[36]
    assert ious[12] == pytest.approx(square_polygon_iou(12), abs=0.02)
    assert ious[8] > 0.99  # rays every 45 deg go through the corners


def test_c_shape_origins(tmp_path):
    path = write_coco(tmp_path / 'c.json', [[{'segmentation': [C_SHAPE]}]])
    runs = {(center, mode): run_oracle(path, center=center, mode=mode)
            for center in ('centroid', 'inside', 'centroid_or_inside')
            for mode in ('farthest', 'nearest')}
    assert runs['centroid', 'farthest']['origin_inside_fraction'] == 0.0
    assert runs['inside', 'farthest']['origin_inside_fraction'] == 1.0
    assert runs['centroid_or_inside',
                'farthest']['origin_inside_fraction'] == 1.0
    # From outside the object, the first crossing of each ray is useless.
    assert runs['centroid', 'nearest']['mean_iou'] < 0.2
    assert runs['inside', 'nearest']['mean_iou'] > 0.6
    # Farthest crossings fill (part of) the notch from either origin, so
    # for this C the origin hardly matters; the notch caps the IoU.
    far_centroid = runs['centroid', 'farthest']['mean_iou']
    far_inside = runs['inside', 'farthest']['mean_iou']
    assert abs(far_centroid - far_inside) < 0.02
    assert 0.72 < far_inside < 0.9


def test_multi_part_object(tmp_path):
    path = write_coco(tmp_path / 'multi.json', [[{
        'segmentation': [square(10, 10, 60), square(120, 100, 30)]
    }]])
    largest = run_oracle(path, parts='largest')
    every = run_oracle(path, parts='all')
    # Only the 60 x 60 part is covered; the GT has both (3600 + 900 px).
    assert largest['mean_iou'] == pytest.approx(3600 / 4500, abs=0.015)
    # Rays through the far part add spikes towards it, not the part.
    assert every['mean_iou'] < largest['mean_iou']


def test_rle_crowd_degenerate_and_empty_are_counted(tmp_path):
    empty = mask_utils.encode(np.zeros((HEIGHT, WIDTH), np.uint8, 'F'))
    empty['counts'] = empty['counts'].decode()
    path = write_coco(tmp_path / 'misc.json', [
        [
            {'segmentation': disk_rle()},
            {'segmentation': [square(10, 10, 30)], 'iscrowd': 1},
            {'segmentation': [[0, 0, 10, 10, 20, 20]]},  # collinear
            {'segmentation': [square(40, 40, 30)], 'category_id': 7},
            {'segmentation': empty},
            {'category_id': 7},  # no segmentation at all
            {'segmentation': [[1, 2, 3, 4]]},  # pycocotools reads a box
            {'segmentation': [square(60, 100, 20), [5, 5, 9, 9]]},
        ],
        [],  # an image without objects
    ])
    result = run_oracle(path, center='centroid_or_inside')
    assert result['num_images'] == 2
    assert result['num_crowd'] == 1
    assert result['num_unevaluable'] == 2  # not evaluable by pycocotools
    assert result['num_gt_parts_dropped'] == 2
    assert result['num_objects'] == 5
    assert result['num_predicted'] == 3
    assert result['num_invalid'] == 2  # collinear and empty RLE
    assert result['num_rle_converted'] == 2
    assert result['num_rle_without_contour'] == 1
    assert result['dropped_parts'].get('zero_area') == 1
    assert result['mean_iou'] > 0.95  # the disk (from RLE) and squares
    assert result['mean_iou_all'] == pytest.approx(
        result['mean_iou'] * 3 / 5)
    # Two GT objects have no prediction: recall, hence AP, is capped.
    assert 0 < result['AP50'] < 1


def test_rle_object_is_traced_as_the_loader_traces_it(tmp_path):
    """An RLE object gets the oracle of its pixel-exact outline, the
    polygon ``RLEToPolygons`` gives the polar heads in training."""
    rle = disk_rle()
    outline = rle_to_polygons(rle)
    assert len(outline) == 1
    back = mask_utils.merge(mask_utils.frPyObjects(outline, HEIGHT, WIDTH))
    assert mask_utils.iou([back], [rle], [0])[0][0] == 1.0
    as_rle = run_oracle(
        write_coco(tmp_path / 'rle.json', [[{'segmentation': rle}]]))
    as_polygon = run_oracle(
        write_coco(tmp_path / 'poly.json', [[{'segmentation': outline}]]))
    assert as_rle['num_rle_converted'] == 1
    assert as_polygon['num_rle_converted'] == 0
    for key in ('mean_iou', 'AP', 'AP75', 'origin_inside_fraction'):
        assert as_rle[key] == as_polygon[key], key


def test_no_annotations_and_bad_options(tmp_path):
    path = write_coco(tmp_path / 'none.json', [[], []])
    result = run_oracle(path)
    assert result['num_objects'] == 0 and result['AP'] == 0.0
    assert math.isnan(result['mean_iou'])
    with pytest.raises(ValueError):
        run_oracle(path, center='middle')
    with pytest.raises(ValueError):
        run_oracle(path, parts='some')


def test_segm_metrics_keep_undefined_size_ranges(squares_file):
    coco = load_coco(squares_file)
    results = [
        dict(image_id=ann['image_id'], category_id=ann['category_id'],
             segmentation=coco.annToRLE(ann), score=1.0)
        for ann in coco.dataset['annotations']
    ]
    metrics = segm_metrics(coco, results)
    assert metrics['AP'] == metrics['AP50'] == pytest.approx(1.0)
    assert metrics['APl'] == -1.0  # no object above 96^2
    assert set(segm_metrics(coco, []).values()) == {0.0}


def test_coco128_val_is_plausible():
    if not COCO128_VAL.exists():
        pytest.skip(f'coco128 not found ({COCO128_ROOT}, see conftest.py)')
    runs = {k: run_oracle(str(COCO128_VAL), num_rays=k)
            for k in (18, 36, 72)}
    data = json.loads(COCO128_VAL.read_text())
    non_crowd = [a for a in data['annotations'] if not a.get('iscrowd', 0)]
    assert runs[36]['num_objects'] == len(non_crowd)
    assert runs[36]['num_images'] == len(data['images'])
    # Measured 0.79 (36 rays, centroid); the bounds only catch breakage.
    assert 0.6 < runs[36]['AP'] < 0.95
    assert runs[72]['AP'] >= runs[36]['AP'] >= runs[18]['AP']
    assert runs[72]['mean_iou'] >= runs[36]['mean_iou'] >= runs[18][
        'mean_iou']


def test_polar_head_settings_fill_the_official_defaults():
    from mmdet_ext.evaluation.polar_oracle import polar_head_settings
    head = dict(num_rays=24, target_builder=dict(
        ray_origin='inside', ray_coder=dict(mode='nearest')))
    assert polar_head_settings(dict(bbox_head=head)) == dict(
        num_rays=24, center='inside', mode='nearest', parts='largest')
    assert polar_head_settings(dict(mask_head=dict(num_rays=18)))[
        'num_rays'] == 18
    assert polar_head_settings(dict(mask_head=dict(type='SOLOV2Head'))) \
        is None
    assert polar_head_settings(None) is None


def test_polar_rays_end_on_the_outline_of_the_used_parts():
    from mmdet_ext.evaluation.polar_oracle import polar_rays
    from mmdet_ext.structures.mask_tracing import gt_polygon_tensor
    polygons = gt_polygon_tensor([[square(10, 10, 40), square(80, 80, 10)]])
    origins, ends, used = polar_rays(polygons, num_rays=8)
    assert origins[0].tolist() == pytest.approx([30., 30.])
    assert ends.shape == (1, 8, 2)
    # 8 rays from the centre of the largest part hit its sides and corners
    border = np.minimum(np.abs(ends[0].numpy() - 10).min(-1),
                        np.abs(ends[0].numpy() - 50).min(-1))
    assert border.max() < 1e-6
    assert len(used.to_list()[0]) == 1  # the small part is not used
    _, ends_all, used_all = polar_rays(polygons, num_rays=8, parts='all')
    assert len(used_all.to_list()[0]) == 2
