"""What both polar heads (PolarNeXt, PolarMask) guarantee: finite losses on
any GT, background-only images, any class count, degenerate and multi-part
objects, and the same prediction format."""
import re

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.structures.mask import BitmapMasks
from mmdet_ext.structures.rle_masks import RLEMasks
from polar_head_cases import (HEADS, IMG, TEST_CFG, assert_finite_with_grad,
                              feats, gt, loss, make_head, meta, square,
                              targets)

KINDS = sorted(HEADS)
GEOMETRIC_LOSSES = {
    'PolarNeXt': ('loss_polar', 'loss_dice', 'loss_quality'),
    'PolarMask': ('loss_polar', 'loss_bbox'),
}


@pytest.mark.parametrize('kind', KINDS)
def test_losses_finite_with_gradients(kind):
    head = make_head(kind)
    gts = [gt([[square(20, 20, 80, 90)], [square(60, 10, 120, 50)]], [0, 2])]
    losses = loss(head, gts)
    assert all(v > 0 for v in losses.values()), losses
    assert_finite_with_grad(losses, head)


@pytest.mark.parametrize('kind', KINDS)
def test_image_without_objects_is_all_background(kind):
    head = make_head(kind)
    gts = [gt([], []), gt([[square(20, 20, 80, 90)]], [1])]
    assert_finite_with_grad(loss(head, gts), head)
    only_empty = loss(make_head(kind), [gt([], [])])
    assert only_empty['loss_cls'] > 0
    for name in GEOMETRIC_LOSSES[kind]:
        assert only_empty[name] == 0


@pytest.mark.parametrize('kind', KINDS)
def test_empty_batch_backward_reaches_every_branch(kind):
    # DDP needs every parameter in the graph even without positives.
    head = make_head(kind)
    losses = loss(head, [gt([], [])])
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in head.parameters())


@pytest.mark.parametrize('kind', KINDS)
def test_one_class_dataset(kind):
    head = make_head(kind, num_classes=1)
    losses = loss(head, [gt([[square(10, 10, 100, 70)]], [0])])
    assert_finite_with_grad(losses, head)


@pytest.mark.parametrize('kind', KINDS)
def test_degenerate_and_multipart_objects(kind):
    head = make_head(kind)
    degenerate = [np.array([5., 5., 5., 5., 5., 5.])]  # zero area
    nan_part = [np.array([1., np.nan, 30., 2., 10., 40.])]
    two_points = [np.array([3., 3., 60., 60.])]
    multipart = [square(10, 10, 40, 60), square(70, 10, 110, 60)]
    gts = [gt([degenerate, nan_part, two_points, multipart], [0, 1, 0, 2])]
    assert_finite_with_grad(loss(head, gts), head)
    only_bad = loss(make_head(kind), [gt([degenerate, nan_part], [0, 1])])
    assert all(torch.isfinite(v) for v in only_bad.values())


# A "C" shape: its area centroid (50.8, 60) lies in the gap, outside it.
C_SHAPE = np.array([10, 10, 110, 10, 110, 30, 30, 30, 30, 90, 110, 90, 110,
                    110, 10, 110], dtype=np.float64)


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('origin', ['centroid', 'int_centroid', 'inside'])
def test_centroid_outside_object(kind, origin):
    head = make_head(kind, target_builder=dict(ray_origin=origin))
    assert_finite_with_grad(loss(head, [gt([[C_SHAPE]], [0])]), head)


@pytest.mark.parametrize('kind', KINDS)
def test_ray_origin_moves_the_positives(kind):
    """Positives lie within 1.5 strides of the chosen origin: in the gap of
    the C for the centroid, inside it for 'inside'."""
    from mmdet_ext.geometry import compute_ray_origins
    from mmdet_ext.structures.polygons import PolygonTensor
    poly = PolygonTensor.from_polygon_masks([[C_SHAPE]])
    positives = {}
    for origin in ('centroid', 'inside'):
        head = make_head(kind, target_builder=dict(ray_origin=origin))
        _, pos = targets(head, gt([[C_SHAPE]], [0]))
        point_strides = head._points(
            [(IMG // s, IMG // s) for s in head.strides],
            torch.device('cpu'))[1][pos.point_inds]
        centre = compute_ray_origins(poly, method=origin)[0].float()
        offset = (pos.points - centre).abs().max(dim=1).values
        assert len(pos) and (offset < 1.5 * point_strides).all()
        positives[origin] = set(pos.point_inds.tolist())
    assert positives['centroid'] != positives['inside']


@pytest.mark.parametrize('kind', KINDS)
def test_object_larger_than_the_image(kind):
    head = make_head(kind)
    losses = loss(head, [gt([[square(-40, -30, 200, 170)]], [0])])
    assert_finite_with_grad(losses, head)


@pytest.mark.parametrize('kind', KINDS)
def test_bitmap_masks_are_traced(kind):
    head = make_head(kind)
    bitmap = np.zeros((1, IMG, IMG), dtype=np.uint8)
    bitmap[0, 20:90, 30:100] = 1
    instances = InstanceData(
        labels=torch.tensor([0]), masks=BitmapMasks(bitmap, IMG, IMG))
    assert_finite_with_grad(loss(head, [instances]), head)


def _confident_outputs(head):
    with torch.no_grad():
        head.conv_cls.bias.fill_(5.0)  # force detections
        return head(feats())


@pytest.mark.parametrize('kind', KINDS)
def test_predict_rescale_false_and_true(kind):
    head = make_head(kind)
    outs = _confident_outputs(head)
    scaled = dict(meta(), ori_shape=(256, 256), scale_factor=(0.5, 0.5))
    for rescale, size in ((False, IMG), (True, 256)):
        res = head.predict_by_feat(*outs, [scaled], rescale=rescale)[0]
        assert 0 < len(res) <= 100
        assert res.polygons.shape[1:] == (36, 2)
        assert res.origins.shape == (len(res), 2)
        assert isinstance(res.masks, RLEMasks)
        assert res.masks.to_ndarray().shape == (len(res), size, size)
        assert (res.bboxes[:, 2:] <= size).all()
        assert (res.origins >= 0).all() and (res.origins <= size).all()
        assert torch.all(res.scores[:-1] >= res.scores[1:])


@pytest.mark.parametrize('kind', KINDS)
def test_predict_without_masks(kind):
    head = make_head(kind, num_classes=2)
    outs = _confident_outputs(head)
    cfg = ConfigDict(TEST_CFG, mask_output=False)
    res = head.predict_by_feat(*outs, [meta()], cfg=cfg)[0]
    assert 'masks' not in res and len(res) > 0


def test_model_code_never_moves_tensors_to_cuda():
    """Device-agnostic model code: tensors follow the input's device, so no
    module of the polar packages calls .cuda() or names a CUDA device."""
    from conftest import REPO_ROOT
    pattern = re.compile(r"\.cuda\(|device=['\"]cuda|['\"]cuda:\d")
    model_dirs = ('models', 'geometry', 'structures', 'task_modules')
    files = [
        *(path for name in model_dirs
          for path in (REPO_ROOT / 'mmdet_ext' / name).rglob('*.py')),
        *(REPO_ROOT / 'projects').glob('*/*/*.py')
    ]
    assert len(files) > 20
    offenders = [
        f'{path.relative_to(REPO_ROOT)}:{number}'
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line.split('#')[0])
    ]
    assert not offenders, offenders


def _polygon_masks(head, points, rays, rescale=True):
    """Masks of the polygons of ``rays`` from ``points`` for a 150 x 200
    image resized to 96 x 128 (scale 0.64), through the head's
    post-processing."""
    img_meta = dict(
        img_shape=(96, 128), ori_shape=(150, 200), scale_factor=(0.64, 0.64))
    cfg = ConfigDict(TEST_CFG, score_thr=0.0)
    results = head._polygon_results(
        torch.ones(len(points)), torch.zeros(len(points), dtype=torch.long),
        points, rays, img_meta, cfg, rescale=rescale, with_nms=False)
    return results.masks.to_ndarray()


@pytest.mark.parametrize('kind', KINDS)
def test_full_image_polygon_covers_every_pixel(kind):
    # Rays far beyond the image clip to its extent: the polygon is the whole
    # image, and every pixel of the original image is inside its mask (the
    # official [0, W - 1] clip lost the last column and row).
    head = make_head(kind)
    masks = _polygon_masks(head, torch.tensor([[64., 48.]]),
                           torch.full((1, 36), 1000.))
    assert masks.shape == (1, 150, 200)
    assert masks.all()


@pytest.mark.parametrize('kind', KINDS)
def test_object_touching_right_and_bottom_edges_keeps_last_pixels(kind):
    head = make_head(kind)
    # Origin near the bottom-right corner, rays reaching past both edges.
    masks = _polygon_masks(head, torch.tensor([[120., 88.]]),
                           torch.full((1, 36), 20.))[0]
    assert masks[:, -1].any() and masks[-1, :].any()
    assert masks[-1, -1]
