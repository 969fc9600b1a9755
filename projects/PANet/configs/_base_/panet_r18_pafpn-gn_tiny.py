# Tiny PANet for CPU (shared by the toy and overfit configs): the tiny Mask R-CNN
# (ResNet-18 from scratch, 64-channel PAFPN) with the full PANet RoI heads at the tiny
# widths: tiny ladder rung 3 (ablations/mask-rcnn_r18_pafpn_afp_ff_4conv1fc_toy-cpu.py)
# plus GN in the neck and every RoI-head layer (16 groups: 4 channels each at 64, 2 at the
# 32-channel fusion conv) and RoIAlign sampling ratio 2 (official). A test checks that
# this model equals that rung with these changes. num_classes is set by the user config.
_base_ = '../../../../configs/_base_/models/mask-rcnn_r18_fpn_tiny.py'

norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)
model = dict(
    neck=dict(type='PAFPN', norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_roi_extractor=dict(
            _delete_=True,
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
            out_channels=64,
            featmap_strides=[4, 8, 16, 32],
            level_layer='conv',
            level_out_channels=64,
            norm_cfg=norm_cfg,
            fusion='max'),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_convs=3,
            num_shared_fcs=1,
            in_channels=64,
            conv_out_channels=64,
            roi_feat_size=7,
            norm_cfg=norm_cfg),
        mask_roi_extractor=dict(
            _delete_=True,
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=2),
            out_channels=64,
            featmap_strides=[4, 8, 16, 32],
            level_layer='conv',
            level_out_channels=64,
            norm_cfg=norm_cfg,
            fusion='max'),
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            num_convs=1,
            fusion_from_conv=0,
            num_fusion_convs=2,
            fusion_fc_relu=True,
            norm_cfg=norm_cfg)))
