# Learnability check of the tiny PolarNeXt (tools/misc/overfit.py,
# tools/analysis_tools/learning_curve.py; README "Learnability").
_base_ = [
    './_base_/polarnext_r18_fpn_tiny.py',
    '../../../configs/_base_/overfit_coco128_cpu.py',
    '../../../configs/_base_/schedules/adamw_tiny_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarNeXt.polarnext'],
    allow_failed_imports=False)
optim_wrapper = _base_.tiny_adamw_optim_wrapper
