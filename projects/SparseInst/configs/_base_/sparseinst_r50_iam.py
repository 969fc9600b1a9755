# SparseInst R-50 with the basic IAM decoder (official values, design notes A.2-A.5):
# torchvision ResNet-50 with frozen BN and a trainable stem (official FREEZE_AT 0; MMDet's
# port froze the stem), encoder 256, instance and mask branches 4 x 256, kernel 128,
# 100 queries, matcher Dice^0.8 * p^0.2, losses cls 2 / obj 1 / dice 2 / bce 5.
model = dict(
    type='SparseInst',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    encoder=dict(
        type='InstanceContextEncoder',
        in_channels=[512, 1024, 2048],
        out_channels=256,
        with_ppm=True),
    decoder=dict(
        type='BaseIAMDecoder',
        in_channels=256,
        num_classes=80,
        num_masks=100,
        inst_dim=256,
        inst_convs=4,
        mask_dim=256,
        mask_convs=4,
        kernel_dim=128,
        scale_factor=2.0,
        output_iam=False),
    criterion=dict(
        type='SparseInstCriterion',
        num_classes=80,
        matcher=dict(type='SparseInstMatcher', alpha=0.8, beta=0.2),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            alpha=0.25,
            gamma=2.0,
            reduction='mean',
            loss_weight=2.0),
        loss_obj=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=1.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=False,
            eps=5e-5,
            reduction='mean',
            loss_weight=2.0),
        loss_mask=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0)),
    # mask_output=False: scores, labels and boxes from the stride-4 masks only (no
    # full-resolution masks); CocoMetric's segm needs True.
    test_cfg=dict(
        score_thr=0.005, mask_thr=0.45, max_per_img=100, mask_output=True))
