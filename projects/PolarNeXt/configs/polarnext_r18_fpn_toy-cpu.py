# Tiny PolarNeXt (ResNet-18 from scratch, narrow FPN and head) for the toy dataset on CPU;
# used by `make quickstart` and the tests.
_base_ = [
    './_base_/polarnext_r50-torch_fpn.py',
    '../../../configs/_base_/datasets/toy_instance.py',
    '../../../configs/_base_/schedules/schedule_toy_cpu.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarNeXt.polarnext'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(
        num_classes=3,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
        # CPU: exact inside test for the matching cost (see PolarTargetBuilder)
        target_builder=dict(cost_mask='hard')))
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.))
default_hooks = dict(logger=dict(interval=10))
