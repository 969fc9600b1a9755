# Mask R-CNN R-50 with PAFPN: MMDetection's mask-rcnn_r50_fpn with the neck replaced by
# PAFPN, the bottom-up path augmentation of PANet (mmdet has neither PANet's adaptive
# feature pooling nor its fully-connected fusion mask head; see README "Baselines").
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

model = dict(neck=dict(type='PAFPN'))
