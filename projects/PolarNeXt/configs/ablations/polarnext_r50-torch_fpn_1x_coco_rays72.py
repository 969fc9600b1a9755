_base_ = '../polarnext_r50-torch_fpn_1x_coco.py'
model = dict(bbox_head=dict(num_rays=72))
