# Tiny PolarMask on the toy dataset (CPU, minutes); same data and schedule as the tiny
# PolarNeXt toy config, for side-by-side runs and tests.
_base_ = [
    './_base_/polarmask_r18_fpn_tiny.py',
    '../../../configs/_base_/datasets/toy_instance.py',
    '../../../configs/_base_/schedules/schedule_toy_cpu.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarMask.polarmask'],
    allow_failed_imports=False)

model = dict(bbox_head=dict(num_classes=3))
optim_wrapper = dict(paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.))
default_hooks = dict(
    logger=dict(interval=11), checkpoint=dict(interval=12, max_keep_ckpts=1))
