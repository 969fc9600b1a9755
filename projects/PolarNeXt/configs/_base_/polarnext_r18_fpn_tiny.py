# Tiny PolarNeXt for CPU: ResNet-18 from scratch, 64-channel FPN and head, the exact
# inside test for the matching cost (see PolarTargetBuilder.cost_mask) and the target
# options of the _plus config: sub-pixel centroid (the polar oracle's origin), mask crops of
# all parts, a candidate for every object (the toy set has objects smaller than a stride).
_base_ = './polarnext_r50-torch_fpn.py'

model = dict(
    backbone=dict(
        depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
        target_builder=dict(
            cost_mask='hard',
            ray_origin='centroid',
            mask_target_parts='all',
            fallback_candidate=True)))
