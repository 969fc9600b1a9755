# PANet ablation ladder, rung 2 of 3: rung 1 + fully-connected fusion in the mask head.
# The branch taps conv3 (the head's 2nd conv; conv1 is per level in the extractor):
# two convs (the second halves the channels), fc -> class-agnostic 28 x 28, ReLU
# (official), added to every class's FCN logits.
_base_ = './mask-rcnn_r50_pafpn_afp_1x_coco.py'

model = dict(
    roi_head=dict(
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            fusion_from_conv=2,
            num_fusion_convs=2,
            fusion_fc_relu=True)))
