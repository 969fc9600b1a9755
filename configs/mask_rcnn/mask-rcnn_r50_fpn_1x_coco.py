# Mask R-CNN R-50 FPN 1x: MMDetection's own model (mmdet::_base_/models/mask-rcnn_r50_fpn.py,
# as in its mask-rcnn_r50_fpn_1x_coco.py) on this repository's COCO data, schedule and
# runtime; reference 34.7 mask AP (val2017, MMDetection model zoo).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]
