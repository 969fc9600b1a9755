# The quickstart's P2 PolarNeXt with contour refinement (ours, not in the paper): two
# RayRefiner steps read the stride-4 features along every ray, rescale each ray and re-score
# the polygon (PolarNeXtRefineHead; README "Learnability", quickstart table).
_base_ = './polarnext_r18_fpn-p2_toy-cpu.py'

model = dict(bbox_head=dict(type='PolarNeXtRefineHead', num_refine_steps=2))
