# PANet ablation ladder, rung 3 of 3: rung 2 + the heavier box head (PANet's 4-conv +
# 1-fc head): conv1 per level in the extractor (max fusion after it), three shared convs,
# fc 1024, then cls / reg. Still without GN: ../panet_r50-caffe_pafpn-gn_1x_coco.py adds
# GN and the official recipe.
_base_ = './mask-rcnn_r50_pafpn_afp_ff_1x_coco.py'

model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(level_layer='conv', level_out_channels=256),
        bbox_head=dict(
            num_shared_convs=3,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            roi_feat_size=7)))
