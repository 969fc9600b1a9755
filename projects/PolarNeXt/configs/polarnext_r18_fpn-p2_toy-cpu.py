# The toy PolarNeXt with a stride-4 level (P2-P6 instead of P3-P7), as the tiny Mask R-CNN
# and SOLOv2 have. A third of the toy objects are smaller than 16 x 16 px, below one P3
# cell; P2 gives them candidates of their own. It costs about 1.3x the training time of the
# P3-P7 model, about the tiny Mask R-CNN's (README "Learnability", quickstart table).
# `make quickstart` trains this config; the paper's P3-P7 stays in the toy config.
_base_ = './polarnext_r18_fpn_toy-cpu.py'

model = dict(
    neck=dict(start_level=0), bbox_head=dict(strides=[4, 8, 16, 32, 64]))
