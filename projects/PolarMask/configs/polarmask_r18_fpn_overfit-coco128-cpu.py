# Learnability check of the tiny PolarMask (tools/misc/overfit.py, see the project README).
_base_ = [
    './_base_/polarmask_r18_fpn_tiny.py',
    '../../../configs/_base_/overfit_coco128_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarMask.polarmask'],
    allow_failed_imports=False)

# exp-parametrised rays start at 1 px and need more steps than PolarNeXt's linear ones to
# reach the object scale: twice the base schedule (see the README's learnability section).
max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
param_scheduler = _base_.param_scheduler
param_scheduler[1].update(end=max_iters, milestones=[int(max_iters * 0.8)])
default_hooks = dict(checkpoint=dict(interval=max_iters))
