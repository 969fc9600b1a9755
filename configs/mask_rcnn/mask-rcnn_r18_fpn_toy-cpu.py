# Tiny Mask R-CNN FPN (ResNet-18, narrow neck/heads, no pretrained weights) that trains on
# the toy dataset on CPU in minutes; configs/mask_rcnn_pafpn/mask-rcnn_r18_pafpn_toy-cpu.py
# adds PAFPN to it.
_base_ = [
    '../_base_/models/mask-rcnn_r18_fpn_tiny.py',
    '../_base_/datasets/toy_instance.py',
    '../_base_/schedules/schedule_toy_cpu.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=3), mask_head=dict(num_classes=3)))
default_hooks = dict(logger=dict(interval=10))
