# The P2 PolarNeXt with contour refinement (ours, not in the paper): two RayRefiner steps
# read the stride-4 features along every ray, rescale each ray and re-score the polygon
# (PolarNeXtRefineHead). `make quickstart` trains it. Mask crops of 32 pixels (official 64)
# keep its training within the tiny Mask R-CNN's time at the same 36 epochs; the AP is the
# same as with 64 within the seed spread (README "Learnability", quickstart table).
_base_ = './polarnext_r18_fpn-p2_toy-cpu.py'

model = dict(
    bbox_head=dict(
        type='PolarNeXtRefineHead',
        num_refine_steps=2,
        target_builder=dict(mask_size=32)))
