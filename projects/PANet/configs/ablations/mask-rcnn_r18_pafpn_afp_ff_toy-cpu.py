# Tiny ladder, rung 2 of 3: rung 1 + fully-connected fusion. The tiny mask tower has 2
# convs (conv1 per level, conv2 in the head); the branch taps one conv before the last,
# as PANet's conv3 of 4: here the fused conv1 (fusion_from_conv=0). Branch 64 -> 32
# channels, fc 32 x 14 x 14 -> 28 x 28, ReLU (official).
_base_ = './mask-rcnn_r18_pafpn_afp_toy-cpu.py'

model = dict(
    roi_head=dict(
        mask_head=dict(
            type='FullyConnectedFusionMaskHead',
            fusion_from_conv=0,
            num_fusion_convs=2,
            fusion_fc_relu=True)))
