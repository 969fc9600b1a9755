# Tiny PANet (ResNet-18 from scratch, 64-channel PAFPN and heads, GN) on the toy dataset,
# CPU, minutes: same data, schedule and optimiser as the tiny Mask R-CNN (+ PAFPN) toy
# configs, so the toy ladder and this model compare with them.
_base_ = [
    './_base_/panet_r18_pafpn-gn_tiny.py',
    '../../../configs/_base_/datasets/toy_instance.py',
    '../../../configs/_base_/schedules/schedule_toy_cpu.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['mmdet_ext', 'projects.PANet.panet'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=3), mask_head=dict(num_classes=3)))
default_hooks = dict(logger=dict(interval=10))
