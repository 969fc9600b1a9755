# AdamW variant of the 1x schedule (the official README recommends AdamW for 1x but gives
# no values; these follow common AdamW detection settings and are not a reproduction).
_base_ = './polarnext_r50-torch_fpn_1x_coco.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
