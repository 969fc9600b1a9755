# Tiny ladder (CPU, toy set), rung 1 of 3: the tiny Mask R-CNN + PAFPN
# (configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_toy-cpu.py: 64-channel FPN, fc 256, 2 mask
# convs) + adaptive feature pooling, as the R-50 rung 1: box fc1 per level (256), mask
# conv1 per level (64, the head keeps its conv2), max fusion.
_base_ = '../../../../configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_toy-cpu.py'
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PANet.panet'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            _delete_=True,
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=64,
            featmap_strides=[4, 8, 16, 32],
            level_layer='fc',
            level_out_channels=256,
            fusion='max'),
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_fcs=1,
            in_channels=256,
            roi_feat_size=1),
        mask_roi_extractor=dict(
            _delete_=True,
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=64,
            featmap_strides=[4, 8, 16, 32],
            level_layer='conv',
            level_out_channels=64,
            fusion='max'),
        mask_head=dict(num_convs=1)))
