"""The tiny SOLOv2's learnability lr (configs/solov2/solov2_r18_fpn_overfit-coco128-cpu.py).

At the overfit base's SGD lr 0.02 (batch 2) the tiny SOLOv2 learned nothing on 4 coco128
images of 20 small persons (segm AP 0.0, ``loss_mask`` ~3.1): the Dice gradient of a
small target grows by orders of magnitude once the mask logits have been pushed down,
the next step threw every logit to +5..+40 and the saturated sigmoid left no gradient.
These tests pin the mechanism (MMDetection's DiceLoss as SOLOv2 configures it), why AdamW
does not fall into it, and the config; the R-50 COCO config keeps MMDetection's schedule.
"""
import pytest
import torch
from mmengine.config import Config

from conftest import REPO_ROOT

TINY = str(REPO_ROOT / 'configs/solov2/solov2_r18_fpn_overfit-coco128-cpu.py')
COCO = str(REPO_ROOT / 'configs/solov2/solov2_r50_fpn_1x_coco.py')


def _dice_grad(logit: float, target: torch.Tensor) -> float:
    """The largest per-pixel gradient of SOLOv2's DiceLoss (weight 3) with
    respect to the mask logits, all equal to ``logit``."""
    from mmdet.models.losses import DiceLoss
    loss_fn = DiceLoss(use_sigmoid=True, loss_weight=3.0)
    pred = torch.full_like(target, logit, requires_grad=True)
    loss = loss_fn(pred[None], target[None], reduction_override='none').sum()
    loss.backward()
    return float(pred.grad.abs().max())


def test_dice_gradient_of_a_small_target_explodes_then_vanishes():
    # one 3x3-pixel target (a ~12 px person at stride 4) in a 104x128 mask map
    target = torch.zeros(104, 128)
    target[50:53, 60:63] = 1
    at_init = _dice_grad(0.0, target)  # p = 0.5 everywhere
    pushed_down = _dice_grad(-4.0, target)  # p ~ 0.02, as after 5 SGD steps
    saturated = _dice_grad(10.0, target)  # p ~ 1, after the overshoot
    # the per-pixel step that is small at init is >= 10x larger near 0 (18x) ...
    assert pushed_down > 10 * at_init
    # ... and once the logits overshoot, the gradient is gone
    assert saturated < 1e-3 * at_init
    # a large target (60x60 px) has no jump, its gradient falls instead: the
    # collapse is a small-object effect (the 80-class coco128 images trained at
    # lr 0.02)
    big = torch.zeros(104, 128)
    big[20:80, 30:90] = 1
    assert _dice_grad(-4.0, big) < _dice_grad(0.0, big)


def test_adam_step_does_not_grow_with_the_dice_gradient():
    # The collapse needs a step proportional to the gradient (SGD). Adam's
    # first step is lr * sign(grad) whatever the gradient's scale, so the
    # ~18x jump of a small target's Dice gradient moves the logits no further.
    from mmdet.models.losses import DiceLoss
    loss_fn = DiceLoss(use_sigmoid=True, loss_weight=3.0)
    target = torch.zeros(104, 128)
    target[50:53, 60:63] = 1
    steps = []
    for logit in (0.0, -4.0):
        pred = torch.full_like(target, logit, requires_grad=True)
        optim = torch.optim.AdamW([pred], lr=1e-3, weight_decay=0.)
        loss_fn(pred[None], target[None]).backward()
        optim.step()
        steps.append(float((pred.detach() - logit).abs().max()))
    assert steps[0] == pytest.approx(1e-3, rel=1e-3)
    assert steps[1] == pytest.approx(steps[0], rel=1e-3)


def test_tiny_solov2_overfit_optimiser():
    cfg = Config.fromfile(TINY)
    optim = cfg.optim_wrapper.optimizer
    # AdamW at the tiny polar models' lr; the overfit base's SGD lr 0.02
    # (batch 2) collapsed on small objects
    assert (optim.type, optim.lr) == ('AdamW', 1e-3)
    assert cfg.optim_wrapper.clip_grad.max_norm == 35
    # the model is the shared tiny SOLOv2 (Dice mask loss of the official config)
    assert cfg.model.mask_head.loss_mask.type == 'DiceLoss'


def test_coco_solov2_keeps_mmdetection_schedule():
    cfg = Config.fromfile(COCO)
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.model.mask_head.num_grids == [40, 36, 24, 16, 12]
