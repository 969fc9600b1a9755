# Mask crops (Dice target, crop box, soft IoU) from all polygon parts instead of the
# official largest part; the rays still come from the largest part.
_base_ = '../polarnext_r50-torch_fpn_1x_coco.py'
model = dict(bbox_head=dict(target_builder=dict(mask_target_parts='all')))
