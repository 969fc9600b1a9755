# Ray origin at the pole of inaccessibility (always inside the object) instead of the
# area centroid of the largest part.
_base_ = '../polarnext_r50-torch_fpn_1x_coco.py'
model = dict(bbox_head=dict(target_builder=dict(ray_origin='inside')))
