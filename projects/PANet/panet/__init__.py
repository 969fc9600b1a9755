"""PANet (CVPR 2018): adaptive feature pooling and fully-connected fusion,
the two RoI-head parts MMDetection lacks (its ``PAFPN`` neck is the third)."""
import mmdet_ext  # noqa: F401  (the safe checkpoint loader, the harness)
from .adaptive_roi_extractor import AdaptiveFeaturePoolingRoIExtractor
from .fc_fusion_mask_head import FullyConnectedFusionMaskHead

__all__ = [
    'AdaptiveFeaturePoolingRoIExtractor', 'FullyConnectedFusionMaskHead'
]
