# The 128-image COCO sample (80 COCO classes) in data/coco128_seg/:
# `python tools/misc/download_dataset.py coco128` (or `make coco128-data`) downloads and
# converts it. Point data_root elsewhere with --cfg-options data_root=/path/to/coco128_seg/
# (the tests use the copy beside the checkout, ../shared/data/coco128_seg, when it exists:
# see tests/conftest.py, COCO128_ROOT).
_base_ = './coco_instance.py'

data_root = 'data/coco128_seg/'
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/')))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
