# PolarNeXt R-50 FPN, 1x, single scale (official values; reference 33.9 mask AP val2017).
_base_ = [
    './_base_/polarnext_r50-torch_fpn.py',
    '../../../configs/_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../../../configs/_base_/default_runtime.py'
]
# Keep the project import next to the runtime's (lists are replaced, not merged).
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarNeXt.polarnext'],
    allow_failed_imports=False)

train_dataloader = dict(batch_size=4, num_workers=4)

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
