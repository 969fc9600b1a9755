"""PolarNeXt head: shapes, losses, targets, edge cases and inference."""
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.structures.mask import BitmapMasks, PolygonMasks
from projects.PolarNeXt.polarnext import PolarNeXtHead
from mmdet_ext.structures.rle_masks import RLEMasks

IMG = 128
STRIDES = (8, 16, 32, 64, 128)
TEST_CFG = ConfigDict(
    nms_pre=1000,
    score_thr=0.05,
    nms=dict(type='nms', iou_threshold=0.5),
    max_per_img=100,
    mask_output=True)


def _head(num_classes=3, **kwargs):
    head = PolarNeXtHead(
        num_classes=num_classes,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        test_cfg=TEST_CFG,
        **kwargs)
    head.init_weights()
    return head


def _feats(batch=1, size=IMG):
    torch.manual_seed(0)
    return tuple(
        torch.rand(batch, 8, size // s, size // s) for s in STRIDES)


def _square(x0, y0, x1, y1):
    return np.array([x0, y0, x1, y0, x1, y1, x0, y1], dtype=np.float64)


def _gt(polys, labels, size=IMG):
    gt = InstanceData()
    gt.labels = torch.as_tensor(labels, dtype=torch.long)
    gt.masks = PolygonMasks(polys, size, size)
    return gt


def _meta(size=IMG):
    return dict(
        img_shape=(size, size),
        ori_shape=(size, size),
        pad_shape=(size, size),
        scale_factor=(1.0, 1.0))


def _loss(head, gts, feats=None):
    feats = feats or _feats(len(gts))
    outs = head(feats)
    return head.loss_by_feat(*outs, gts, [_meta()] * len(gts))


def _assert_finite_with_grad(losses, head):
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in head.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_forward_shapes():
    head = _head(num_classes=5, num_rays=18)
    cls, rays, quality = head(_feats(2))
    for level, s in enumerate(STRIDES):
        assert cls[level].shape == (2, 5, IMG // s, IMG // s)
        assert rays[level].shape == (2, 18, IMG // s, IMG // s)
        assert quality[level].shape == (2, 1, IMG // s, IMG // s)
        assert (rays[level] >= 0.01).all()
        assert rays[level].dtype == torch.float32


def test_losses_finite_with_gradients():
    head = _head()
    gts = [_gt([[_square(20, 20, 80, 90)], [_square(60, 10, 120, 50)]],
               [0, 2])]
    losses = _loss(head, gts)
    assert set(losses) == {'loss_cls', 'loss_polar', 'loss_dice',
                           'loss_quality'}
    assert all(v > 0 for v in losses.values())
    _assert_finite_with_grad(losses, head)


def test_image_without_objects_is_all_background():
    head = _head()
    gts = [_gt([], []), _gt([[_square(20, 20, 80, 90)]], [1])]
    losses = _loss(head, gts)
    _assert_finite_with_grad(losses, head)
    only_empty = _loss(_head(), [_gt([], [])])
    assert only_empty['loss_cls'] > 0
    assert only_empty['loss_polar'] == 0 and only_empty['loss_dice'] == 0


def test_one_class_dataset():
    head = _head(num_classes=1)
    losses = _loss(head, [_gt([[_square(10, 10, 100, 70)]], [0])])
    _assert_finite_with_grad(losses, head)


def test_degenerate_and_multipart_objects():
    head = _head()
    degenerate = [np.array([5., 5., 5., 5., 5., 5.])]  # zero area
    nan_part = [np.array([1., np.nan, 30., 2., 10., 40.])]
    multipart = [_square(10, 10, 40, 60), _square(70, 10, 110, 60)]
    gts = [_gt([degenerate, nan_part, multipart], [0, 1, 2])]
    losses = _loss(head, gts)
    _assert_finite_with_grad(losses, head)


def test_centroid_outside_object():
    # A "C" shape: its area centroid lies in the gap, outside the object.
    c_shape = np.array([10, 10, 110, 10, 110, 30, 30, 30, 30, 90, 110, 90,
                        110, 110, 10, 110], dtype=np.float64)
    for origin in ('centroid', 'inside'):
        head = _head(target_builder=dict(ray_origin=origin))
        losses = _loss(head, [_gt([[c_shape]], [0])])
        _assert_finite_with_grad(losses, head)


def test_bitmap_masks_are_traced():
    head = _head()
    bitmap = np.zeros((1, IMG, IMG), dtype=np.uint8)
    bitmap[0, 20:90, 30:100] = 1
    gt = InstanceData(
        labels=torch.tensor([0]), masks=BitmapMasks(bitmap, IMG, IMG))
    _assert_finite_with_grad(_loss(head, [gt]), head)


def test_tiny_object_gets_a_positive():
    head = _head()
    builder = head.target_builder
    outs = head(_feats())
    points, strides = head._points([c.shape[-2:] for c in outs[0]],
                                   torch.device('cpu'))
    flat_cls = head._flatten_levels(outs[0])[0]
    flat_rays = head._flatten_levels(outs[1])[0]
    labels, pos = builder.build(points, strides, flat_cls.detach(),
                                flat_rays,
                                _gt([[_square(50.5, 50.5, 53.5, 53.5)]], [2]))
    assert len(pos) == 1 and (labels == 2).sum() == 1


def test_point_claimed_by_two_objects_goes_to_one():
    # Two identical objects: every candidate point is shared by both.
    head = _head()
    square = _square(30, 30, 90, 90)
    outs = head(_feats())
    points, strides = head._points([c.shape[-2:] for c in outs[0]],
                                   torch.device('cpu'))
    labels, pos = head.target_builder.build(
        points, strides,
        head._flatten_levels(outs[0])[0].detach(),
        head._flatten_levels(outs[1])[0],
        _gt([[square], [square.copy()]], [0, 1]))
    assert len(pos) > 0
    assert len(torch.unique(pos.point_inds)) == len(pos.point_inds)
    assert int((labels < 3).sum()) == len(pos)


def test_predict_rescale_false_and_true():
    head = _head()
    with torch.no_grad():
        head.conv_cls.bias.fill_(5.0)  # force detections
        outs = head(_feats())
    meta = dict(_meta(), ori_shape=(256, 256), scale_factor=(0.5, 0.5))
    for rescale, size in ((False, IMG), (True, 256)):
        res = head.predict_by_feat(*outs, [meta], rescale=rescale)[0]
        assert 0 < len(res) <= 100
        assert res.polygons.shape[1:] == (36, 2)
        assert isinstance(res.masks, RLEMasks)
        assert res.masks.to_ndarray().shape == (len(res), size, size)
        assert (res.bboxes[:, 2:] <= size).all()
        assert torch.all(res.scores[:-1] >= res.scores[1:])


def test_predict_without_masks():
    head = _head(num_classes=2)
    with torch.no_grad():
        head.conv_cls.bias.fill_(5.0)
        outs = head(_feats())
    cfg = ConfigDict(TEST_CFG, mask_output=False)
    res = head.predict_by_feat(*outs, [_meta()], cfg=cfg)[0]
    assert 'masks' not in res and len(res) > 0


def test_no_cuda_needed_and_device_follows_input():
    head = _head()
    assert all(p.device.type == 'cpu' for p in head.parameters())
    assert not any('cuda' in str(b.device) for b in head.buffers())


@pytest.mark.parametrize('parts', ['all', 'largest'])
def test_mask_target_parts(parts):
    head = _head(target_builder=dict(mask_target_parts=parts))
    multipart = [_square(10, 10, 50, 100), _square(70, 10, 90, 40)]
    _assert_finite_with_grad(_loss(head, [_gt([multipart], [0])]), head)


@pytest.mark.parametrize('cost_mask', ['soft', 'hard'])
def test_cost_mask_choices_select_positives(cost_mask):
    head = _head(target_builder=dict(cost_mask=cost_mask))
    losses = _loss(head, [_gt([[_square(20, 20, 90, 100)]], [1])])
    _assert_finite_with_grad(losses, head)
    with pytest.raises(ValueError, match='cost_mask'):
        _head(target_builder=dict(cost_mask='fuzzy'))
