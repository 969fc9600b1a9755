# Tiny SOLOv2 (ResNet-18, narrow FPN/head, no pretrained weights) that trains on the toy
# dataset on CPU in minutes. Same architecture family as solov2_r50_fpn_1x_coco.py.
_base_ = [
    '../_base_/models/solov2_r50_fpn.py',
    '../_base_/datasets/toy_instance.py',
    '../_base_/schedules/schedule_toy_cpu.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    mask_head=dict(
        num_classes=3,
        in_channels=64,
        feat_channels=128,
        stacked_convs=2,
        num_grids=[24, 20, 16, 12, 8],
        mask_feature_head=dict(
            feat_channels=32,
            out_channels=64,
            norm_cfg=dict(type='GN', num_groups=16, requires_grad=True))))
val_evaluator = dict(metric='segm')
test_evaluator = val_evaluator
default_hooks = dict(logger=dict(interval=10))
