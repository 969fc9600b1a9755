# Tiny Mask R-CNN with PAFPN (ResNet-18, narrow neck/heads, no pretrained weights) that
# trains on the toy dataset on CPU in minutes: the plain-FPN tiny model with PANet's
# bottom-up path augmentation.
_base_ = '../mask_rcnn/mask-rcnn_r18_fpn_toy-cpu.py'

model = dict(neck=dict(type='PAFPN'))
