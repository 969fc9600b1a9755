# PolarMask R-101 FPN 1x; reference 30.7 mask AP (val2017, 4-GPU recipe).
_base_ = './polarmask_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron/resnet101_caffe')))
