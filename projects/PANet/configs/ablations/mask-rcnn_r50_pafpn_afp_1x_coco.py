# PANet ablation ladder, rung 1 of 3: Mask R-CNN R-50 + PAFPN (mmdet's bottom-up path
# augmentation, configs/mask_rcnn_pafpn/) + adaptive feature pooling. Every RoI is pooled
# from all four levels; each level has its own first layer, fused by element-wise max:
# box branch: the first fc of the 2-fc head per level (PANet's 2-fc variant, fusion after
# fc1), then the shared second fc; mask branch: conv1 per level, then conv2-conv4.
# Nothing else changes (no GN, mmdet's RoIAlign sampling, same schedule and data).
_base_ = '../../../../configs/mask_rcnn_pafpn/mask-rcnn_r50_pafpn_1x_coco.py'
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PANet.panet'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            _delete_=True,
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32],
            level_layer='fc',
            level_out_channels=1024,
            fusion='max'),
        # the fused (R, 1024, 1, 1) fc1 output -> fc2 -> cls / reg
        bbox_head=dict(
            type='ConvFCBBoxHead',
            num_shared_fcs=1,
            in_channels=1024,
            roi_feat_size=1),
        mask_roi_extractor=dict(
            _delete_=True,
            type='AdaptiveFeaturePoolingRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32],
            level_layer='conv',
            level_out_channels=256,
            fusion='max'),
        mask_head=dict(num_convs=3)))
