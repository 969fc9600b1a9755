# Learnability runs on CPU: a tiny model memorises a handful of real COCO images
# (coco128, `data/coco128_seg/` by default: see ./datasets/coco128_instance.py) in a few
# hundred iterations. tools/misc/overfit.py writes
# the subset annotation file and points train, val and the evaluator at it. Model configs
# inherit this together with their tiny model.
_base_ = [
    './datasets/coco128_instance.py',
    './default_runtime.py'
]

train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(type='Resize', scale=(512, 512), keep_ratio=True)
test_pipeline = _base_.test_pipeline
test_pipeline[1] = dict(type='Resize', scale=(512, 512), keep_ratio=True)
train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline, filter_cfg=dict(min_size=8)))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_iters = 400
train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters + 1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[int(max_iters * 0.8)],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
