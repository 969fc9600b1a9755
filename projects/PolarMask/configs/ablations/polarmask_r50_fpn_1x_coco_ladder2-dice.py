# Ablation ladder, rung 2: rung 1 + PolarNeXt's Dice loss on the soft-rasterised polygon
# (weighted, like the polar IoU loss, by the quality target).
_base_ = './polarmask_r50_fpn_1x_coco_ladder1-matcher.py'

model = dict(
    bbox_head=dict(
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=False,
            activate=False,
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0)))
