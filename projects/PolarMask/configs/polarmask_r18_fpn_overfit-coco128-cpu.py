# Learnability check of the tiny PolarMask (tools/misc/overfit.py, see the project README).
_base_ = [
    './_base_/polarmask_r18_fpn_tiny.py',
    '../../../configs/_base_/overfit_coco128_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PolarMask.polarmask'],
    allow_failed_imports=False)
