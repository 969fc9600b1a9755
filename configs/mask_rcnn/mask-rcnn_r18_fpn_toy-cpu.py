# Tiny Mask R-CNN FPN (ResNet-18, narrow neck/heads, no pretrained weights) that trains on
# the toy dataset on CPU in minutes; configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_toy-cpu.py
# adds PAFPN to it.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/toy_instance.py',
    '../_base_/schedules/schedule_toy_cpu.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=3),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(
            num_convs=2, in_channels=64, conv_out_channels=64,
            num_classes=3)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))
default_hooks = dict(logger=dict(interval=10))
