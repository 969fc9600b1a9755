# The learnability recipe at the goals' budget (README "Learnability"), used by the polar
# overfit configs: 800 iterations, warm-up 50, lr step at 80 % as in the base's 400.
_base_ = './overfit_coco128_cpu.py'

max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[int(max_iters * 0.8)],
        gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
