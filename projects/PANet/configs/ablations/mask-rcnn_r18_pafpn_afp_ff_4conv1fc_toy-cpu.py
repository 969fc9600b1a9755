# Tiny ladder, rung 3 of 3: rung 2 + the heavier box head: conv1 per level (64), three
# shared 64-channel convs, fc 256.
_base_ = './mask-rcnn_r18_pafpn_afp_ff_toy-cpu.py'

model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(level_layer='conv', level_out_channels=64),
        bbox_head=dict(
            num_shared_convs=3,
            num_shared_fcs=1,
            in_channels=64,
            conv_out_channels=64,
            roi_feat_size=7)))
