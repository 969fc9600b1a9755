# The paper's R-50 1x PolarNeXt with contour refinement (ours, not in the paper): two
# RayRefiner steps read the P3 features along every ray, rescale each ray and re-score the
# polygon (PolarNeXtRefineHead). On the toy set it lifts the tiny P2 model from 0.19 to
# about 0.30 segm AP (README "Learnability"); not measured on COCO (no GPU here).
_base_ = './polarnext_r50-torch_fpn_1x_coco.py'

model = dict(bbox_head=dict(type='PolarNeXtRefineHead', num_refine_steps=2))
