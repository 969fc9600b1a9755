# Tiny PolarMask for CPU: ResNet-18 (pytorch style, from scratch, trainable BN),
# 64-channel FPN and head with 2 convs per tower. Normalised inputs as PolarNeXt's tiny
# model (caffe's std 1 suits frozen pretrained caffe weights only). Targets as the tiny
# PolarNeXt's: sub-pixel centroid origin, and one fallback positive for an object that no
# location samples (FCOS's rule leaves an object narrower than a stride, between two
# locations, as background). On 52 persons of 4 coco128 images (38 small, 512 px, 800 it):
# 0.591 / 0.620 -> 0.616 / 0.624 (seeds 0 / 1), within the seed spread (README "Learnability").
# Rays and boxes in stride units (an option of this codebase; the paper configs keep the
# official exp in input pixels, where every ray starts at 1 px): 4 coco128 images, 384 px,
# 200 iterations, segm AP 0.318 -> 0.565; 512 px, 800 iterations: 0.806, 95 % of the
# oracle (project README "Learnability").
_base_ = './polarmask_r50-caffe_fpn.py'

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        norm_on_stride=True,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
        target_builder=dict(ray_origin='centroid', fallback_candidate=True)))
