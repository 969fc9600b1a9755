# Learnability check of the tiny SparseInst (tools/misc/overfit.py,
# tools/analysis_tools/learning_curve.py): memorise a few coco128 images with the tiny
# model of the toy config, same budget and optimiser as the tiny polar models.
_base_ = [
    './_base_/sparseinst_r18_iam_tiny.py',
    '../../../configs/_base_/overfit_coco128_cpu.py',
    '../../../configs/_base_/schedules/adamw_tiny_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.SparseInst.sparseinst'],
    allow_failed_imports=False)
optim_wrapper = _base_.tiny_adamw_optim_wrapper
