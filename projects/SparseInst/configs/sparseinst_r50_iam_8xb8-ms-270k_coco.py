# SparseInst R-50 IAM, official schedule (design notes A.5; reference 32.8 mask AP val2017
# official, 32.9 MMDetection's port): AdamW lr 5e-5 wd 0.05 (none on norm layers), batch
# 64 = 8 GPUs x 8, 270k iterations, lr x0.1 at 210k and 250k, Detectron2's linear warm-up
# of 1000 iterations from 0.001 (MMDetection's port had none), multi-scale short side
# 416-640 (step 32), long side <= 853, flip; test 640 / 853.
_base_ = [
    './_base_/sparseinst_r50_iam.py',
    '../../../configs/_base_/datasets/coco_instance.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.SparseInst.sparseinst'],
    allow_failed_imports=False)

train_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=None),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(853, s) for s in range(416, 641, 32)],
        keep_ratio=True,
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(853, 640), keep_ratio=True, backend='pillow'),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# SparseInst predicts no boxes of its own: they are derived from the masks.
val_evaluator = dict(metric=['segm', 'bbox'])
test_evaluator = val_evaluator

max_iters = 270000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[210000, 250000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
# The lr is for a total batch of 64; --auto-scale-lr scales it to GPUs x batch.
auto_scale_lr = dict(enable=False, base_batch_size=64)

default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=10000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
