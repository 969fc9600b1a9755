# Tiny PolarNeXt on the toy set (CPU, minutes); used by `make quickstart` and tests.
# AdamW and exp rays (README "Learnability"): toy val segm AP 0.174 (seed 0) against 0.073
# with AdamW and the official linear rays, 0.033-0.079 with SGD, in the same 36 epochs.
_base_ = [
    './_base_/polarnext_r18_fpn_tiny.py',
    '../../../configs/_base_/datasets/toy_instance.py',
    '../../../configs/_base_/schedules/schedule_toy_cpu.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/adamw_tiny_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarNeXt.polarnext'],
    allow_failed_imports=False)

model = dict(bbox_head=dict(num_classes=3, ray_activation='exp'))
optim_wrapper = _base_.tiny_adamw_optim_wrapper
default_hooks = dict(
    logger=dict(interval=11), checkpoint=dict(interval=12, max_keep_ckpts=1))
