_base_ = [
    '../_base_/models/solov2_r50_fpn.py',
    '../_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]

optim_wrapper = dict(
    optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2))
# SOLOv2 predicts no boxes (they are zeros), so only mask AP is meaningful.
val_evaluator = dict(metric='segm')
test_evaluator = val_evaluator
