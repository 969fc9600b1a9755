"""SOLOV2FineMaskLossHead: SOLOv2's mask loss at a finer stride."""
import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from mmdet.models.dense_heads import SOLOV2Head
from mmdet.models.losses import DiceLoss
from mmdet.registry import MODELS
from mmdet.structures.mask import BitmapMasks
from mmdet_ext.models.dense_heads import SOLOV2FineMaskLossHead
from mmdet_ext.models.dense_heads.solov2_fine_mask_loss_head import \
    UpsampledProbabilityLoss
from test_solov2_min_area_head import _head_kwargs

IMAGE = 64  # input side; the mask features are 16 x 16 (stride 4)


def _head(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='SOLOV2FineMaskLossHead', **_head_kwargs(), **kwargs))


def _gt(boxes):
    """Rectangular objects (x1, y1, x2, y2) of class 1 on a 64 px image."""
    masks = np.zeros((len(boxes), IMAGE, IMAGE), dtype=np.uint8)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes):
        mask[y1:y2, x1:x2] = 1
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.ones(len(boxes), dtype=torch.long),
        masks=BitmapMasks(masks, IMAGE, IMAGE))


def _losses(head, gt_instances):
    torch.manual_seed(1)
    feats = tuple(
        torch.randn(1, 8, IMAGE // s, IMAGE // s) for s in (4, 8, 16))
    meta = dict(img_shape=(IMAGE, IMAGE), batch_input_shape=(IMAGE, IMAGE))
    kernels, scores, mask_feats = head(feats)
    return head.loss_by_feat(kernels, scores, mask_feats, [gt_instances],
                             [meta])


OBJECTS = [(5, 6, 14, 13), (30, 20, 50, 52)]


def test_at_the_feature_stride_it_is_mmdetections_loss():
    ours = _head(mask_loss_stride=4)
    reference = SOLOV2Head(**_head_kwargs())
    reference.load_state_dict(ours.state_dict())
    assert isinstance(ours.loss_mask, UpsampledProbabilityLoss)
    mine, theirs = _losses(ours, _gt(OBJECTS)), _losses(
        reference, _gt(OBJECTS))
    for key in ('loss_mask', 'loss_cls'):
        torch.testing.assert_close(mine[key], theirs[key])


def test_fine_targets_keep_the_official_positives():
    head = _head(mask_loss_stride=1)
    official = _head()
    gt = _gt(OBJECTS)
    fine = head._get_targets_single(gt, featmap_sizes=(16, 16))
    coarse = official._get_targets_single(gt, featmap_sizes=(16, 16))
    assert head.mask_stride == 4  # restored after building the targets
    for level in range(3):
        assert fine[3][level] == coarse[3][level]  # positive indexes
        assert torch.equal(fine[1][level], coarse[1][level])  # labels
        assert fine[0][level].shape[1:] == (IMAGE, IMAGE)
        assert coarse[0][level].shape[1:] == (16, 16)
    # the fine targets are the ground truth itself
    first = fine[0][0][0].numpy()
    np.testing.assert_array_equal(first, gt.masks.masks[0])


@pytest.mark.parametrize('stride', [1, 2])
def test_losses_are_finite_and_reach_every_parameter(stride):
    head = _head(mask_loss_stride=stride)
    losses = _losses(head, _gt(OBJECTS))
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(p.grad is not None for p in head.parameters())
    empty = _losses(_head(mask_loss_stride=stride), _gt([]))
    assert float(empty['loss_mask'].detach()) == 0.
    assert torch.isfinite(empty['loss_cls'])


def _fit_free_logits(loss_fn, target, steps=300):
    """Fit a free 16 x 16 logit map; return its mask as SOLOv2 infers it:
    sigmoid, bilinear upsampling to the image, threshold 0.5."""
    logits = torch.zeros(1, 16, 16, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(logits, target).sum().backward()
        optimizer.step()
    probs = F.interpolate(
        logits.detach().sigmoid()[None], size=(IMAGE, IMAGE),
        mode='bilinear', align_corners=False)[0, 0]
    return probs > 0.5


def _iou(a, b):
    return float((a & b).sum()) / float((a | b).sum())


def test_fine_loss_learns_the_sub_cell_shape():
    # A 7 x 6 px object off the 4 px cell grid: the official coarse target
    # (the mask rescaled to the stride-4 features) quantises it to cells;
    # the fine loss trains what inference shows.
    mask = np.zeros((IMAGE, IMAGE), dtype=np.uint8)
    mask[21:27, 10:17] = 1
    gt = torch.from_numpy(mask).bool()
    coarse_target = torch.from_numpy(
        mmcv.imrescale(mask, scale=0.25))[None].float()
    official = _fit_free_logits(
        lambda x, t: DiceLoss(reduction='none')(x, t), coarse_target)
    fine = _fit_free_logits(
        UpsampledProbabilityLoss(
            DiceLoss(activate=False, reduction='none')),
        gt[None].float())
    # measured: IoU 0.75 against 0.545 (the optimum of the Dice loss on a
    # bilinear map of 16 x 16 probabilities, not an exact rectangle)
    assert _iou(fine, gt) > 0.7
    assert _iou(fine, gt) > _iou(official, gt) + 0.15


@pytest.mark.parametrize('bad', [3, 0, 8, 2.0])
def test_bad_mask_loss_stride(bad):
    with pytest.raises(ValueError, match='mask_loss_stride'):
        _head(mask_loss_stride=bad)


def test_default_is_the_official_loss():
    head = _head()
    assert head.mask_loss_stride is None
    assert isinstance(head.loss_mask, DiceLoss) and head.loss_mask.activate
    assert MODELS.get('SOLOV2FineMaskLossHead') is SOLOV2FineMaskLossHead
