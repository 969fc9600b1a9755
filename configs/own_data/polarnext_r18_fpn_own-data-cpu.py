# Tiny PolarNeXt (ResNet-18 from scratch) on your own COCO-format folder, on CPU: a check
# that a converted dataset loads, trains, evaluates and draws before a GPU run of
# polarnext_r50-torch_fpn_1x_own-data.py (README "Train on your own data"). Images are
# resized to at most 512 x 384.
_base_ = [
    '../../projects/PolarNeXt/configs/_base_/polarnext_r18_fpn_tiny.py',
    '../_base_/datasets/coco_format_instance.py',
    '../_base_/schedules/schedule_toy_cpu.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarNeXt.polarnext'],
    allow_failed_imports=False)

train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(type='Resize', scale=(512, 384), keep_ratio=True)
test_pipeline = _base_.test_pipeline
test_pipeline[1] = dict(type='Resize', scale=(512, 384), keep_ratio=True)
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    optimizer=dict(lr=0.02),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.))
default_hooks = dict(checkpoint=dict(interval=12, max_keep_ckpts=1))
