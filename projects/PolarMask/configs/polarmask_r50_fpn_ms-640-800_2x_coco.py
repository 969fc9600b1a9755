# PolarMask R-50 FPN, multi-scale training (short side 640-800, long side 1333, aspect
# ratio not kept, as the official 32-GPU recipe), "2x" = 26 epochs [18, 24] as the official
# config; reference 30.5 mask AP (val2017). Official batch 32 at lr 0.02; here batch 16 at
# lr 0.01 (linear scaling; set auto_scale_lr to rescale for other batches).
_base_ = './polarmask_r50_fpn_1x_coco.py'

train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(
    type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=False)
test_pipeline = _base_.test_pipeline
test_pipeline[1] = dict(type='Resize', scale=(1333, 800), keep_ratio=False)
train_dataloader = dict(
    batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=26)
param_scheduler = _base_.param_scheduler
param_scheduler[0].end = 2000
param_scheduler[1].update(end=26, milestones=[18, 24])
