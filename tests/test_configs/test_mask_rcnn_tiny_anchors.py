"""The tiny Mask R-CNN's RPN anchors at the overfit configs' 512 px.

With MMDetection's COCO anchors (scale 8: 32 px at stride 4) a 10 x 10 px object overlaps
every anchor by IoU <= 0.1, under the RPN assigner's ``min_pos_iou`` (0.3): it never gets a
positive anchor, so no proposal, and the tiny Mask R-CNN missed every blob under 128 px^2 of
a small-object set (README "Learnability"). The overfit configs use scale 4.
"""
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_overlaps
from conftest import REPO_ROOT

OVERFIT = 'configs/mask_rcnn/mask-rcnn_r18_fpn_overfit-coco128-cpu.py'
PAFPN_OVERFIT = 'configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_overfit-coco128-cpu.py'
COCO = 'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
SIZE = 512


def _worst_best_iou(cfg: Config, side: float) -> float:
    """Over positions of a ``side`` x ``side`` box in a 512 px image (one
    stride-4 cell, in 0.5 px steps), the lowest of its best anchor IoUs."""
    generator = TASK_UTILS.build(cfg.model.rpn_head.anchor_generator)
    sizes = [(SIZE // s, SIZE // s) for s, _ in generator.strides]
    anchors = torch.cat(generator.grid_priors(sizes, device='cpu'))
    shifts = torch.arange(0, 4, 0.5)
    x, y = torch.meshgrid(shifts, shifts, indexing='ij')
    x0 = 200 + x.reshape(-1)
    y0 = 200 + y.reshape(-1)
    boxes = torch.stack([x0, y0, x0 + side, y0 + side], 1)
    return float(bbox_overlaps(boxes, anchors).max(1).values.min())


def _load(cfg_path: str) -> Config:
    return Config.fromfile(str(REPO_ROOT / cfg_path))


def _min_pos_iou(cfg: Config) -> float:
    return cfg.model.train_cfg.rpn.assigner.min_pos_iou


@pytest.mark.parametrize('cfg_path', [OVERFIT, PAFPN_OVERFIT])
def test_small_objects_get_a_positive_anchor(cfg_path):
    cfg = _load(cfg_path)
    assert _worst_best_iou(cfg, 10) >= _min_pos_iou(cfg)


def test_coco_anchors_are_mmdetections():
    # the COCO config keeps scale 8, which leaves a 10 px object without one
    cfg = _load(COCO)
    assert cfg.model.rpn_head.anchor_generator.scales == [8]
    assert _worst_best_iou(cfg, 10) < _min_pos_iou(cfg)
