# COCO 2017 instance segmentation: MMDetection's coco_instance.py with this repository's
# loading transforms (mmdet_ext). Polygon masks: all parts of every object are kept
# through the transforms by mmdet's PolygonMasks. CheckedLoadImageFromFile stops on a
# truncated or unreadable training image with its file name (test pipelines keep
# MMDetection's LoadImageFromFile, the name DetInferencer looks for);
# LoadPolygonAnnotations = LoadAnnotations(poly2mask=False) that also turns RLE-encoded
# objects into polygons (README "Robustness"). Override the location with
# --cfg-options data_root=/path/to/coco/ (with the trailing slash; then also
# val_evaluator.ann_file) or link data/coco.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

train_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
