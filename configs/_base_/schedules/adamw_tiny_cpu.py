# AdamW for the tiny polar models trained from scratch on CPU (overfit and toy configs).
# Configs list this file in _base_ and set `optim_wrapper = _base_.tiny_adamw_optim_wrapper`
# (it replaces their schedule's SGD wrapper). The polar IoU loss log(sum max / sum min)
# gives the ray branch gradients of order 1 / sum(rays): SGD refines the rays of large
# objects slowly, AdamW normalises the step (README "Learnability": 4 COCO images, 400
# iterations, segm AP 0.51 -> 0.64). The COCO configs keep the paper's SGD.
tiny_adamw_optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.001, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
