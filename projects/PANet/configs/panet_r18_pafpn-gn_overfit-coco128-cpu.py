# Learnability check of the tiny PANet (tools/misc/overfit.py,
# tools/analysis_tools/learning_curve.py): memorise a few coco128 images with the tiny
# model of the toy config; same budget and SGD recipe as the tiny Mask R-CNN (+ PAFPN)
# overfit configs (configs/_base_/overfit_coco128_cpu.py).
_base_ = [
    './_base_/panet_r18_pafpn-gn_tiny.py',
    '../../../configs/_base_/overfit_coco128_cpu.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PANet.panet'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=80), mask_head=dict(num_classes=80)))
