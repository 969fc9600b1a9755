# Tiny PolarMask on the toy dataset (CPU, minutes); same data, schedule and optimiser as the
# tiny PolarNeXt toy config, for side-by-side runs and tests. AdamW and rays in stride units
# (the tiny base), as in the overfit config: toy val segm AP 0.079 against 0.021 with the
# toy schedule's SGD and pixel-unit rays (seed 0; project README "Learnability").
_base_ = [
    './_base_/polarmask_r18_fpn_tiny.py',
    '../../../configs/_base_/datasets/toy_instance.py',
    '../../../configs/_base_/schedules/schedule_toy_cpu.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_tiny_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarMask.polarmask'],
    allow_failed_imports=False)

model = dict(bbox_head=dict(num_classes=3))
optim_wrapper = _base_.tiny_adamw_optim_wrapper
default_hooks = dict(
    logger=dict(interval=11), checkpoint=dict(interval=12, max_keep_ckpts=1))
