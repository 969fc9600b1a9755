# PolarNeXt R-50 FPN model with the official hyper-parameters (design notes §3, §5).
# Configs using it import the project (custom_imports, see the 1x config).
model = dict(
    type='PolarNeXt',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='PolarNeXtHead',
        num_classes=80,
        in_channels=256,
        feat_channels=256,
        stacked_convs=4,
        strides=[8, 16, 32, 64, 128],
        num_rays=36,
        ray_min=0.01,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        target_builder=dict(
            sampling_radius=1.5,
            mask_size=64,
            tau=0.1,
            # Official target semantics (design notes §3.3-3.6): origin = area
            # centroid truncated to int, rays and mask crops from the largest
            # part, no candidate for objects without one. Our alternatives are
            # gathered in polarnext_r50-torch_fpn_1x_coco_plus.py.
            ray_origin='int_centroid',
            ray_target_parts='largest',
            mask_target_parts='largest',
            fallback_candidate=False,
            # Matching cost on the soft-rasterised candidates (the tiny CPU
            # configs use 'hard', the exact inside test).
            cost_mask='soft',
            ray_coder=dict(
                type='PolarRayCoder', mode='farthest', miss_value=0.01),
            matcher=dict(type='TopCostMatcher', num_sample=9),
            chunk_size=500),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_polar=dict(type='PolarIoULoss', loss_weight=1.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=False,
            activate=False,
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0),
        loss_quality=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    test_cfg=dict(
        nms_pre=1000,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100,
        # False returns polygons only (the official FPS protocol leaves the
        # polygon-to-mask conversion out); CocoMetric needs True.
        mask_output=True))
