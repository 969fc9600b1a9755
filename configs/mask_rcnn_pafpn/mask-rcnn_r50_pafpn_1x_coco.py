_base_ = [
    '../_base_/models/mask-rcnn_r50_pafpn.py',
    '../_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]
