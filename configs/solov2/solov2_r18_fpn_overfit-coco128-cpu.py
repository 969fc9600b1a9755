# Learnability check of the tiny SOLOv2 (tools/misc/overfit.py): memorise a few coco128
# images with the tiny model of the toy config.
_base_ = [
    '../_base_/models/solov2_r18_fpn_tiny.py',
    '../_base_/overfit_coco128_cpu.py'
]

model = dict(mask_head=dict(num_classes=80))
val_evaluator = dict(metric='segm')
test_evaluator = val_evaluator
