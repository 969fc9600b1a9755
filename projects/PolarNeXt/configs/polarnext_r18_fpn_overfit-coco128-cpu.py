# Learnability check of the tiny PolarNeXt (tools/misc/overfit.py, see the project README).
_base_ = [
    './_base_/polarnext_r18_fpn_tiny.py',
    '../../../configs/_base_/overfit_coco128_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarNeXt.polarnext'],
    allow_failed_imports=False)
