# The embedded synthetic toy dataset (tools/misc/make_toy_dataset.py, default seed and
# 3 classes); `make toy-data` writes it to data/toy/. Images are about 256 x 192. The COCO
# base with the toy set's folders, classes, image scale, batch and minimum object size.
_base_ = './coco_instance.py'

data_root = 'data/toy/'
metainfo = dict(
    classes=('ellipse', 'star', 'bracket'),
    palette=[(220, 20, 60), (0, 160, 80), (30, 90, 230)])

train_pipeline = _base_.train_pipeline
train_pipeline[2] = dict(type='Resize', scale=(320, 256), keep_ratio=True)
test_pipeline = _base_.test_pipeline
test_pipeline[1] = dict(type='Resize', scale=(320, 256), keep_ratio=True)
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
