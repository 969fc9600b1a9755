# Official target semantics: mask crops from the largest polygon part only.
_base_ = '../polarnext_r50-torch_fpn_1x_coco.py'
model = dict(bbox_head=dict(target_builder=dict(mask_target_parts='largest')))
