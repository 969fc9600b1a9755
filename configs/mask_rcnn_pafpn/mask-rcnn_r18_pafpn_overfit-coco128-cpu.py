# Learnability check of the tiny Mask R-CNN PAFPN (tools/misc/overfit.py): the tiny
# Mask R-CNN FPN overfit config with PANet's bottom-up path augmentation.
_base_ = '../mask_rcnn/mask-rcnn_r18_fpn_overfit-coco128-cpu.py'

model = dict(neck=dict(type='PAFPN'))
