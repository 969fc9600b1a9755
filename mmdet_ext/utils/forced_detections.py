"""Randomly initialised detectors that detect like trained ones, and the raw
batch they run on.

A benchmark of a randomly initialised model times nothing real: no location
passes the score threshold, so post-processing and mask generation are
skipped. :func:`force_detections` sets a few biases so that the model
post-processes as many candidates as a trained one on a crowded image. Used
by the comparison and deployment benchmarks, the ONNX export and the tests.
"""
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.structures import DetDataSample

# Score spread given to the forced candidates: the best one gets a logit
# this much above the score threshold (sigmoid(-2.9 + 6) = 0.96 for FCOS),
# so scores look like a trained model's and SOLOv2's Matrix NMS decay does
# not push every candidate under its ``filter_thr``.
FORCED_LOGIT_SPAN = 6.0
# Logit of the classes that are never detected (sigmoid(-20) ~ 2e-9).
SILENT_CLS_BIAS = -20.0
# Forced ray length in strides: polygons of radius 4 strides (32 px on P3
# ... 512 px on P7), i.e. real-sized masks.
FORCED_RAY_BIAS = 4.0
# FCOS-style box sides are exp(conv) pixels at test time: 32 px boxes.
FORCED_EXP_REG_BIAS = float(np.log(32.0))
# Softmax logit of class 0 in a two-stage box head: every proposal becomes
# a class-0 detection with score ~1.
FORCED_SOFTMAX_LOGIT = 10.0


def dense_head(model: nn.Module) -> Optional[nn.Module]:
    """The single-stage head that post-processes (``bbox_head`` or SOLO's
    ``mask_head``), or None for a two-stage model."""
    if hasattr(model, 'roi_head'):
        return None
    head = getattr(model, 'bbox_head', None)
    return head if head is not None else getattr(model, 'mask_head', None)


def class_logits(model: nn.Module, inputs: Tensor) -> List[Tensor]:
    """Outputs of the head's ``conv_cls`` on every level, (B, C, H, W)."""
    head = dense_head(model)
    outputs = []
    handle = head.conv_cls.register_forward_hook(
        lambda module, args, output: outputs.append(output))
    try:
        head.forward(model.extract_feat(inputs))
    finally:
        handle.remove()
    return outputs


@torch.no_grad()
def force_detections(model: nn.Module, inputs: Tensor,
                     num_candidates: int) -> None:
    """Make a randomly initialised detector detect like a trained one.

    With random weights no location passes the score threshold (or, with a
    raised bias, every location and class does), so post-processing and
    mask generation would not be timed. For a single-stage head the class-0
    logit of ``conv_cls`` is calibrated so that exactly ``num_candidates``
    locations (over all levels) score above ``score_thr``, with scores
    spread up to ``FORCED_LOGIT_SPAN`` above it, and the other classes never
    do; ray / box regressions get real sizes. For a two-stage model every
    RPN proposal becomes a class-0 detection. Either way, NMS then leaves
    ``max_per_img`` detections, as a trained model on a crowded image.

    Args:
        model (nn.Module): Detector in eval mode.
        inputs (Tensor): The preprocessed image the model will be timed on.
        num_candidates (int): Locations above the score threshold
            (single-stage heads).
    """
    head = dense_head(model)
    if head is None:
        _force_two_stage(model)
        return
    conv_cls = head.conv_cls
    if hasattr(head, 'conv_rays'):
        _force_ray_lengths(head)
    if hasattr(head, 'conv_reg'):
        _force_box_sides(head)
    conv_cls.bias.fill_(0.0)
    logits = torch.cat(
        [level[:, 0].flatten() for level in class_logits(model, inputs)])
    logits = logits.float().sort(descending=True).values
    k = max(1, min(num_candidates, len(logits) - 1))
    scale = FORCED_LOGIT_SPAN / max(float(logits[0] - logits[k]), 1e-6)
    conv_cls.weight[0] *= scale
    score_thr = float(head.test_cfg.get('score_thr', 0.05))
    threshold = float(np.log(score_thr / (1 - score_thr)))
    conv_cls.bias.fill_(SILENT_CLS_BIAS)
    conv_cls.bias[0] = threshold - scale * float(logits[k - 1] +
                                                 logits[k]) / 2


def _force_ray_lengths(head: nn.Module) -> None:
    """Rays of about ``FORCED_RAY_BIAS`` strides on every level, whichever
    the parametrisation: PolarNeXt's linear ``Scale * conv * stride`` or
    ``exp(Scale * conv) * stride`` (``ray_activation='exp'``), or
    PolarMask's ``exp(Scale_l(conv))`` in its ``distance_unit`` (pixels,
    or strides with ``norm_on_stride``; one learnable scale per level in
    ``scales_rays``), so that all produce polygons of the same sizes."""
    scales = getattr(head, 'scales_rays', None)
    if scales is None:
        exp_rays = getattr(head, 'ray_activation', 'linear') == 'exp'
        head.conv_rays.bias.fill_(
            float(np.log(FORCED_RAY_BIAS)) if exp_rays else FORCED_RAY_BIAS)
        return
    _force_scaled_exp(head, head.conv_rays, scales,
                      [FORCED_RAY_BIAS * stride for stride in head.strides])


def _force_box_sides(head: nn.Module) -> None:
    """FCOS-style box sides of ``exp(FORCED_EXP_REG_BIAS)`` pixels on every
    level, also when they are ``exp(Scale_l(conv))`` strides (PolarMask's
    ``norm_on_stride``)."""
    if not getattr(head, 'norm_on_stride', False):
        head.conv_reg.bias.fill_(FORCED_EXP_REG_BIAS)
        return
    _force_scaled_exp(head, head.conv_reg, head.scales_bbox,
                      [float(np.exp(FORCED_EXP_REG_BIAS))] * len(head.strides))


def _force_scaled_exp(head: nn.Module, conv: nn.Conv2d, scales: nn.ModuleList,
                      pixels: List[float]) -> None:
    """Outputs ``exp(Scale_l(conv)) * head.distance_unit(l)`` (PolarMask's
    rays and boxes) of about ``pixels[l]`` input pixels on level l: the conv
    bias 1, Scale_l = log(pixels[l] / unit)."""
    conv.bias.fill_(1.0)
    for level, (scale, size) in enumerate(zip(scales, pixels)):
        scale.scale.data.fill_(
            float(np.log(size / head.distance_unit(level))))


def _force_two_stage(model: nn.Module) -> None:
    """Class 0 wins the softmax of the RoI box head on every proposal."""
    bbox_head = model.roi_head.bbox_head
    fc_cls = getattr(bbox_head, 'fc_cls', None)
    if fc_cls is None:
        raise ValueError(f'{type(bbox_head).__name__} has no fc_cls: cannot '
                         'force detections')
    fc_cls.weight.zero_()
    fc_cls.bias.fill_(0.0)
    fc_cls.bias[0] = FORCED_SOFTMAX_LOGIT


def raw_batch(size: Tuple[int, int],
              seed: int,
              gt_instances: Optional[InstanceData] = None) -> dict:
    """A random uint8 image (3, H, W) and its sample, as a dataloader
    yields them (what ``model.test_step`` takes).

    Args:
        size (tuple[int, int]): Image (height, width), also the original
            size (scale factor 1).
        seed (int): Seed of the image.
        gt_instances (InstanceData, optional): Ground truth to attach.

    Returns:
        dict: ``inputs`` (list of one uint8 tensor) and ``data_samples``.
    """
    height, width = size
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(
        0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
    sample = DetDataSample(
        metainfo=dict(
            img_id=0,
            img_path='',
            img_shape=(height, width),
            ori_shape=(height, width),
            pad_shape=(height, width),
            scale_factor=(1.0, 1.0)))
    if gt_instances is not None:
        sample.gt_instances = gt_instances
    return dict(inputs=[image], data_samples=[sample])


def needs_forced_detections(model: nn.Module) -> bool:
    """Dense heads and two-stage models detect nothing with random
    weights. A query-based model (SparseInst's decoder) needs no forcing:
    from its prior initialisation every one of its N queries scores
    sqrt(0.01 * 0.5) > the official 0.005 threshold, so it post-processes
    all N masks, as a trained model does."""
    return not hasattr(model, 'decoder')
