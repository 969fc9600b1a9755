# Learnability check of the tiny PANet (tools/misc/overfit.py,
# tools/analysis_tools/learning_curve.py): memorise a few coco128 images with the tiny
# model of the toy config, trained as the tiny Mask R-CNN (+ PAFPN) overfit configs are, so
# that the learning curves compare models and not recipes: AdamW (the optimiser of every
# tiny model trained from scratch; the overfit base's SGD lr 0.02 is what this config had
# before) and RPN anchors of scale 4 for the small objects of 512-px images
# (configs/mask_rcnn/mask-rcnn_r18_fpn_overfit-coco128-cpu.py, README "Learnability").
_base_ = [
    './_base_/panet_r18_pafpn-gn_tiny.py',
    '../../../configs/_base_/overfit_coco128_cpu.py',
    '../../../configs/_base_/schedules/adamw_tiny_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PANet.panet'], allow_failed_imports=False)

model = dict(
    rpn_head=dict(anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_head=dict(num_classes=80), mask_head=dict(num_classes=80)))
optim_wrapper = _base_.tiny_adamw_optim_wrapper
