_base_ = './coco_instance.py'

# Multi-scale training: short side drawn uniformly from [640, 800], long side <= 1333.
train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(
    type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
