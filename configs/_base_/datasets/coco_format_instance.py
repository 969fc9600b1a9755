# Any COCO-format instance-segmentation folder (README "Train on your own data"):
#
#   data/my_dataset/annotations/instances_train.json   data/my_dataset/train/<images>
#   data/my_dataset/annotations/instances_val.json     data/my_dataset/val/<images>
#
# (the layout tools/dataset_converters/*2coco.py write). CocoFormatDataset (mmdet_ext)
# reads the class names from the file's `categories`; tools/train.py, tools/test.py and
# demo/image_demo.py set the model's num_classes to their number
# (mmdet_ext.utils.sync_classes), so no class is named here. Move the folder with
# --cfg-options data_root=/path/to/folder/ (trailing slash; the evaluator follows).
# Pipelines and loaders are COCO's.
_base_ = './coco_instance.py'

dataset_type = 'CocoFormatDataset'
data_root = 'data/my_dataset/'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8)))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/')))
test_dataloader = val_dataloader

# The evaluator reads the same file as the val dataset (its categories map the labels
# back to category ids).
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
