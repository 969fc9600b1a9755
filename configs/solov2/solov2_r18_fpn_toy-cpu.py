# Tiny SOLOv2 (ResNet-18, narrow FPN/head, no pretrained weights) that trains on the toy
# dataset on CPU in minutes. Same architecture family as solov2_r50_fpn_1x_coco.py.
_base_ = [
    '../_base_/models/solov2_r18_fpn_tiny.py',
    '../_base_/datasets/toy_instance.py',
    '../_base_/schedules/schedule_toy_cpu.py', '../_base_/default_runtime.py'
]

model = dict(mask_head=dict(num_classes=3))
val_evaluator = dict(metric='segm')
test_evaluator = val_evaluator
default_hooks = dict(logger=dict(interval=10))
