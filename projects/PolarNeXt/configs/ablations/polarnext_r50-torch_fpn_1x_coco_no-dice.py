# Without the mask-level (soft rasteriser + Dice) supervision; the Dice matching cost is
# switched off with it because the matcher's cost weights follow the loss weights.
_base_ = '../polarnext_r50-torch_fpn_1x_coco.py'
model = dict(bbox_head=dict(loss_dice=dict(loss_weight=0.0)))
