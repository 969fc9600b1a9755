# PolarNeXt R-50 FPN, 3x, multi-scale training (short side 640-800); reference 35.7.
_base_ = './polarnext_r50-torch_fpn_1x_coco.py'

train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(
    type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_epochs=36)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=36,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
