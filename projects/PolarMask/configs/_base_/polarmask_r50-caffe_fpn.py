# PolarMask R-50 (caffe) FPN with the official hyper-parameters (peers.md §A.2, §A.4).
# Configs using it import the project (custom_imports, see the 1x config).
model = dict(
    type='PolarMask',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[102.9801, 115.9465, 122.7717],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron/resnet50_caffe')),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',  # official extra_convs_on_inputs=False
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='PolarMaskHead',
        num_classes=80,
        in_channels=256,
        feat_channels=256,
        stacked_convs=4,
        strides=[8, 16, 32, 64, 128],
        num_rays=36,
        regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 512),
                        (512, 1e8)),
        # The paper drops the box branch; the official code trains it and
        # uses its boxes for NMS (False: rays only, NMS on polygon boxes).
        with_box_branch=True,
        quality_target='centerness',
        quality_tower='cls',
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        # Official target assignment (the head's defaults, POLARMASK_TARGETS):
        # candidates within 1.5 strides of the area centroid of the largest
        # part truncated to int, inside the box and in the level's regress
        # range; rays and mask crops (used by the ablation ladder's Dice
        # loss) from the largest part; no candidate for an object without
        # one; FCOS's smallest-object-wins matcher. The head adds
        # regress_ranges, num_classes, num_rays and with_masks.
        target_builder=dict(
            sampling_radius=1.5,
            ray_origin='int_centroid',
            ray_target_parts='largest',
            mask_target_parts='largest',
            fallback_candidate=False,
            ray_coder=dict(
                type='PolarRayCoder', mode='farthest', miss_value=1e-6),
            matcher=dict(type='MinAreaMatcher')),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_polar=dict(type='PolarIoULoss', loss_weight=1.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    test_cfg=dict(
        nms_pre=1000,
        score_thr=0.05,
        # score = cls * (centerness + quality_offset), official 0.5
        quality_offset=0.5,
        # NMS on the box-branch boxes (official default); True: polygon boxes
        mask_nms=False,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100,
        # False returns polygons only (model-only FPS); CocoMetric needs True.
        mask_output=True))
