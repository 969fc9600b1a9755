# Tiny SparseInst on the toy dataset (CPU, minutes); same data and epochs as the tiny
# polar and mask-based toy configs, for side-by-side runs and tests. AdamW (the official
# optimiser) at the tiny models' from-scratch lr (schedules/adamw_tiny_cpu.py).
_base_ = [
    './_base_/sparseinst_r18_iam_tiny.py',
    '../../../configs/_base_/datasets/toy_instance.py',
    '../../../configs/_base_/schedules/schedule_toy_cpu.py',
    '../../../configs/_base_/schedules/adamw_tiny_cpu.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.SparseInst.sparseinst'],
    allow_failed_imports=False)

model = dict(decoder=dict(num_classes=3), criterion=dict(num_classes=3))
optim_wrapper = _base_.tiny_adamw_optim_wrapper
default_hooks = dict(
    logger=dict(interval=11), checkpoint=dict(interval=12, max_keep_ckpts=1))
