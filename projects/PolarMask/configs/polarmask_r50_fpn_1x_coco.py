# PolarMask R-50 FPN 1x (official 4-GPU recipe: 1280x768 fixed-size training, batch 16,
# SGD 0.01, warm-up 500 it at 1/3, 12 epochs [8, 11]); reference 29.1 mask AP (val2017).
_base_ = [
    './_base_/polarmask_r50-caffe_fpn.py',
    '../../../configs/_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../../../configs/_base_/default_runtime.py'
]
# Keep the project import next to the runtime's (lists are replaced, not merged).
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarMask.polarmask'],
    allow_failed_imports=False)

# The official resize ignores the aspect ratio (keep_ratio=False).
train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(type='Resize', scale=(1280, 768), keep_ratio=False)
test_pipeline = _base_.test_pipeline
test_pipeline[1] = dict(type='Resize', scale=(1280, 768), keep_ratio=False)
train_dataloader = dict(
    batch_size=4, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
# Official warm-up: 500 iterations from 1/3 of the lr; steps at 8 and 11 (as the base).
param_scheduler = _base_.param_scheduler
param_scheduler[0].start_factor = 1.0 / 3
auto_scale_lr = dict(enable=False, base_batch_size=16)
