# MMDetection's runtime; registers this repository's modules (mmdet_ext: transforms,
# datasets, losses, the polar core, its safe checkpoint loader) in every process.
# dist_cfg keeps nccl: tools/train.py switches to gloo when CUDA is absent.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)

# Without MMDetection's fixed name ('visualizer') every Runner gets its own visualizer,
# named after its experiment: several Runners in one process (compare_models' evaluation
# of each checkpoint, in-process tests) otherwise share the first one, which keeps writing
# to the first run's (possibly deleted) work dir.
visualizer = dict(
    _delete_=True,
    type='DetLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')])
