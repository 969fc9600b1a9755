# MMDetection's runtime; registers this repository's modules (mmdet_ext: transforms,
# datasets, losses, the polar core, its safe checkpoint loader) in every process.
# dist_cfg keeps nccl: tools/train.py switches to gloo when CUDA is absent.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
