from .checkpoint import (allow_checkpoint_globals, check_checkpoint_matches,
                         checkpoint_classes, checkpoint_is_complete,
                         checkpoint_safe_globals, find_resume_checkpoint,
                         format_mismatch, safe_torch_load,
                         state_dict_mismatch)
from .config_utils import (check_choice, explain_config_error,
                           merge_cfg_options)
from .data_check import (DataCheckError, ImageLoadError, check_dataset,
                         check_datasets, data_error_message)
from .dataset_classes import (COCO_FORMAT_DATASET, read_class_names,
                              set_num_classes, sync_classes)
from .dist import cuda_available, setup_distributed, teardown_distributed

__all__ = [
    'allow_checkpoint_globals', 'checkpoint_safe_globals', 'safe_torch_load',
    'check_checkpoint_matches', 'checkpoint_classes', 'checkpoint_is_complete',
    'find_resume_checkpoint', 'format_mismatch', 'state_dict_mismatch',
    'DataCheckError', 'ImageLoadError', 'check_dataset', 'check_datasets',
    'data_error_message', 'cuda_available',
    'setup_distributed', 'teardown_distributed', 'merge_cfg_options',
    'explain_config_error', 'check_choice', 'COCO_FORMAT_DATASET',
    'read_class_names', 'set_num_classes', 'sync_classes'
]
