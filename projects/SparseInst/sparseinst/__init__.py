import mmdet_ext  # noqa: F401  (RLEMasks, the safe checkpoint loader)
from .criterion import SparseInstCriterion
from .deploy import SparseInstExportWrapper, sparseinst_instances
from .decoder import BaseIAMDecoder, GroupIAMDecoder, GroupIAMSoftDecoder
from .encoder import InstanceContextEncoder, PyramidPoolingModule
from .matcher import SparseInstMatcher
from .sparseinst import SparseInst

__all__ = [
    'SparseInst', 'InstanceContextEncoder', 'PyramidPoolingModule',
    'BaseIAMDecoder', 'GroupIAMDecoder', 'GroupIAMSoftDecoder',
    'SparseInstCriterion', 'SparseInstMatcher', 'SparseInstExportWrapper',
    'sparseinst_instances'
]
