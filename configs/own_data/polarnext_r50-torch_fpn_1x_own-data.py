# PolarNeXt R-50 FPN, 1x, on your own COCO-format folder (README "Train on your own
# data"): PolarNeXt's COCO recipe (ImageNet-pretrained backbone, SGD, 12 epochs) with the
# classes of the annotation file. Point it at your data with
# --cfg-options data_root=data/my_dataset/ or edit data_root in
# configs/_base_/datasets/coco_format_instance.py.
_base_ = [
    '../../projects/PolarNeXt/configs/_base_/polarnext_r50-torch_fpn.py',
    '../_base_/datasets/coco_format_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarNeXt.polarnext'],
    allow_failed_imports=False)

# No num_classes: tools/train.py sets model.bbox_head.num_classes from the
# categories of train_dataloader's annotation file.
train_dataloader = dict(batch_size=4, num_workers=4)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
