"""Builders shared by the polar head tests: tiny heads, features, objects."""
import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.structures.mask import PolygonMasks
from projects.PolarMask.polarmask import PolarMaskHead
from projects.PolarNeXt.polarnext import PolarNeXtHead

IMG = 128
STRIDES = (8, 16, 32, 64, 128)
TEST_CFG = ConfigDict(
    nms_pre=1000,
    score_thr=0.05,
    nms=dict(type='nms', iou_threshold=0.5),
    max_per_img=100,
    mask_output=True)
HEADS = {'PolarNeXt': PolarNeXtHead, 'PolarMask': PolarMaskHead}


def make_head(kind='PolarNeXt', num_classes=3, **kwargs):
    """A tiny head (8 channels, one conv per tower), initialised."""
    head = HEADS[kind](
        num_classes=num_classes,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        test_cfg=TEST_CFG,
        **kwargs)
    head.init_weights()
    return head


def feats(batch=1, size=IMG):
    """Seeded random features of the five levels, (B, 8, H_l, W_l)."""
    torch.manual_seed(0)
    return tuple(
        torch.rand(batch, 8, size // s, size // s) for s in STRIDES)


def square(x0, y0, x1, y1):
    """Flat polygon of an axis-aligned rectangle."""
    return np.array([x0, y0, x1, y0, x1, y1, x0, y1], dtype=np.float64)


def gt(polys, labels, size=IMG):
    """GT instances with polygon masks."""
    instances = InstanceData()
    instances.labels = torch.as_tensor(labels, dtype=torch.long)
    instances.masks = PolygonMasks(polys, size, size)
    return instances


def meta(size=IMG):
    return dict(
        img_shape=(size, size),
        ori_shape=(size, size),
        pad_shape=(size, size),
        scale_factor=(1.0, 1.0))


def loss(head, gts, features=None):
    """Losses of ``head`` on seeded features for the GT of each image."""
    outs = head(features or feats(len(gts)))
    return head.loss_by_feat(*outs, gts, [meta()] * len(gts))


def targets(head, instances):
    """(labels, positives) of one image through the head's builder."""
    outs = head(feats())
    # Class logits come first and rays second-last in both heads' outputs.
    points, strides = head._points([c.shape[-2:] for c in outs[0]],
                                   torch.device('cpu'))
    return head.target_builder.build(
        points, strides,
        head._flatten_levels(outs[0])[0].detach(),
        head._flatten_levels(outs[-2])[0], instances)


def assert_finite_with_grad(losses, head):
    """Total loss finite, backward gives finite gradients."""
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in head.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
