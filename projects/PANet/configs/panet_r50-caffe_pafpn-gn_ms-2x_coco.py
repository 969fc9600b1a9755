# PANet R-50 2x multi-scale: the official e2e_panet_R-50-FPN_2x_mask setting (paper 37.8
# mask AP, official repository 38.3; not reproduced here). 180k iterations of batch 16
# with steps at 120k / 160k = 24.6 / 16.4 / 21.8 COCO epochs -> 24 epochs, steps at 16
# and 22. Training short side drawn per image from {1200, 1200, 1000, 800, 600, 400},
# long side <= 1400, flip; test 1000 / 1400.
_base_ = './panet_r50-caffe_pafpn-gn_1x_coco.py'

train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(
    type='RandomChoiceResize',
    scales=[(1400, 1200), (1400, 1200), (1400, 1000), (1400, 800),
            (1400, 600), (1400, 400)],
    keep_ratio=True)
test_pipeline = _base_.test_pipeline
test_pipeline[1] = dict(type='Resize', scale=(1400, 1000), keep_ratio=True)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=24)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=24,
        by_epoch=True,
        milestones=[16, 22],
        gamma=0.1)
]
