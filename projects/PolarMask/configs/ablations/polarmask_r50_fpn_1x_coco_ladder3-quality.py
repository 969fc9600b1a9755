# Ablation ladder, rung 3: rung 2 + PolarNeXt's quality branch: the soft mask IoU replaces
# the polar centerness as target (and as loss weight), predicted from the mask tower, and
# the score is cls * quality (no +0.5 offset).
_base_ = './polarmask_r50_fpn_1x_coco_ladder2-dice.py'

model = dict(
    bbox_head=dict(quality_target='mask_iou', quality_tower='mask'),
    test_cfg=dict(quality_offset=0.0))
