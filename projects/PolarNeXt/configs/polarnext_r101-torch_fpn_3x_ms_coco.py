# PolarNeXt R-101 FPN, 3x, multi-scale training; reference 37.1.
_base_ = './polarnext_r50-torch_fpn_3x_ms_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))
