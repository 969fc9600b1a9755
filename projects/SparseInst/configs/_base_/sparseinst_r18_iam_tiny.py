# Tiny SparseInst for CPU (shared by the toy and overfit configs): ResNet-18 from scratch
# (as the tiny SOLOv2 / Mask R-CNN / polar baselines), a 64-channel encoder (the tiny FPN's
# width), instance and mask branches 2 x 64 (the tiny heads' depth and width), kernel 32,
# 100 queries. num_classes is set by the config that uses it.
_base_ = './sparseinst_r50_iam.py'

model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    encoder=dict(in_channels=[128, 256, 512], out_channels=64),
    decoder=dict(
        in_channels=64,
        inst_dim=64,
        inst_convs=2,
        mask_dim=64,
        mask_convs=2,
        kernel_dim=32))
