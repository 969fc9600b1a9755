# Learnability check of the tiny SOLOv2 (tools/misc/overfit.py): memorise a few coco128
# images with the tiny model of the toy config, its masks trained at input resolution
# (SOLOV2FineMaskLossHead, mask_loss_stride=1: sigmoid, bilinear upsampling as at
# inference, Dice against the full-resolution ground truth; 44 small blobs 0.589 / 0.581 /
# 0.613 -> 0.666 / 0.645 / 0.640, 52 small persons 0.364 -> 0.411 / 0.455; the toy config
# keeps the official loss, see the tiny base), from mask features at stride 2
# (UpsampledMaskFeatModule: a 2 x 2 deconvolution initialised as nearest upsampling), and
# without the official 2 x 2 local maximum of the grid scores, which dropped objects whose
# grid cell touches another's (score_local_max=False; Matrix NMS still removes duplicates):
# 52 small persons 0.411 / 0.455 -> 0.631 / 0.638 / 0.592 (seeds 0 / 1 / 2). The toy config keeps both
# official (no local maximum: toy val 0.153 / 0.136 -> 0.152 / 0.132).
# AdamW, the optimiser of the tiny polar models and of the tiny Mask R-CNN's overfit config
# (README "Learnability"): at 800 iterations segm AP 0.965 on 4 coco128 images, 0.589
# against 0.559 (SGD lr 0.005) on 44 small blobs, 0.364 against 0.340 on 52 small persons
# (before the fine mask loss).
# Not the overfit base's SGD lr 0.02: from scratch, SOLOv2's Dice mask loss first drives
# every mask logit down; its gradient scales as 1 / (sum p^2 + sum target), so on small
# objects (target masks of 6-40 px at the stride-4 mask features) the per-pixel gradient
# then grows ~18x, and the next SGD step threw all logits to +5..+40: the sigmoid saturated,
# the mask gradients fell to ~1e-6 and loss_mask stayed at ~3.1 (segm AP 0.0 on 4 coco128
# images with 20 small persons). SGD at lr 0.005 avoids it; AdamW's step does not grow with
# the gradient at all (tests/test_configs/test_solov2_tiny_lr.py).
_base_ = [
    '../_base_/models/solov2_r18_fpn_tiny.py',
    '../_base_/overfit_coco128_cpu.py',
    '../_base_/schedules/adamw_tiny_cpu.py'
]

model = dict(
    mask_head=dict(
        num_classes=80,
        mask_loss_stride=1,
        score_local_max=False,
        mask_feature_head=dict(type='UpsampledMaskFeatModule', mask_stride=2)))
val_evaluator = dict(metric='segm')
test_evaluator = val_evaluator
optim_wrapper = _base_.tiny_adamw_optim_wrapper
