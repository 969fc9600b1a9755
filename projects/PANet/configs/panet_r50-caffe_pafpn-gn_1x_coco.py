# PANet R-50 1x (the full model at the ladder's 1x single-scale schedule): ladder rung 3
# (bottom-up path, adaptive feature pooling, fully-connected fusion, 4-conv + 1-fc box
# head) with the official setting of ShuLiu1993/PANet (design notes B.2-B.5): GN (32
# groups) in the neck and in every RoI-head layer, caffe-style R-50 with frozen BN and
# frozen stem + res2, RoIAlign sampling ratio 2, smooth-L1 losses (RPN beta 1/9, box beta
# 1/3), 2000 training proposals, bias 2x lr without weight decay, no weight decay on GN,
# warm-up 500 iterations from 1/3. lr 0.02 for a total batch of 16 (8 GPUs x 2).
_base_ = './ablations/mask-rcnn_r50_pafpn_afp_ff_4conv1fc_1x_coco.py'

norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    data_preprocessor=dict(
        mean=[103.530, 116.280, 123.675], std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        style='caffe',
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    neck=dict(norm_cfg=norm_cfg),
    rpn_head=dict(
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), norm_cfg=norm_cfg),
        bbox_head=dict(
            norm_cfg=norm_cfg,
            loss_bbox=dict(
                type='SmoothL1Loss', beta=1.0 / 3.0, loss_weight=1.0)),
        mask_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=2000, max_per_img=2000)))

param_scheduler = [
    dict(
        type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
optim_wrapper = dict(
    paramwise_cfg=dict(
        bias_lr_mult=2., bias_decay_mult=0., norm_decay_mult=0.))
