from .checkpoint import (allow_checkpoint_globals, checkpoint_safe_globals,
                         safe_torch_load)
from .config_utils import merge_cfg_options
from .data_check import DataCheckError, check_dataset, check_datasets
from .dist import cuda_available, setup_distributed

__all__ = [
    'allow_checkpoint_globals', 'checkpoint_safe_globals', 'safe_torch_load',
    'DataCheckError', 'check_dataset', 'check_datasets', 'cuda_available',
    'setup_distributed', 'merge_cfg_options'
]
