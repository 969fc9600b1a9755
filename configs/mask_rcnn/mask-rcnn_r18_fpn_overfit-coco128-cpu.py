# Learnability check of the tiny Mask R-CNN FPN (tools/misc/overfit.py): memorise a few
# coco128 images with the tiny model of the toy config.
_base_ = [
    '../_base_/models/mask-rcnn_r18_fpn_tiny.py',
    '../_base_/overfit_coco128_cpu.py'
]

model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=80), mask_head=dict(num_classes=80)))
