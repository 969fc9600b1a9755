"""What both polar heads (PolarNeXt, PolarMask) guarantee: finite losses on
any GT, background-only images, any class count, degenerate and multi-part
objects, and the same prediction format."""
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.structures.mask import BitmapMasks
from mmdet_ext.structures.rle_masks import RLEMasks
from polar_head_cases import (HEADS, IMG, TEST_CFG, assert_finite_with_grad,
                              feats, gt, loss, make_head, meta, square)

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


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('origin', ['centroid', 'inside'])
def test_centroid_outside_object(kind, origin):
    # A "C" shape: its area centroid lies in the gap, outside the object.
    c_shape = np.array([10, 10, 110, 10, 110, 30, 30, 30, 30, 90, 110, 90,
                        110, 110, 10, 110], dtype=np.float64)
    head = make_head(kind, target_builder=dict(ray_origin=origin))
    assert_finite_with_grad(loss(head, [gt([[c_shape]], [0])]), head)


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


@pytest.mark.parametrize('kind', KINDS)
def test_no_cuda_needed(kind):
    head = make_head(kind)
    assert all(p.device.type == 'cpu' for p in head.parameters())
    assert not any('cuda' in str(b.device) for b in head.buffers())
