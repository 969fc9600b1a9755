"""PolarNeXt detector."""
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig


@MODELS.register_module()
class PolarNeXt(SingleStageDetector):
    """`PolarNeXt (CVPR 2025)`: a single-stage detector whose masks are
    polygons of rays from each location, trained with ray targets and a
    differentiable soft rasterisation of the polygon.

    The head (:class:`PolarNeXtHead`) returns boxes, scores, labels,
    polygons and (optionally) RLE masks, which MMDetection's ``CocoMetric``,
    visualiser and ``DetInferencer`` consume directly.

    Args:
        backbone (:obj:`ConfigDict` or dict): Backbone config.
        neck (:obj:`ConfigDict` or dict): Neck config.
        bbox_head (:obj:`ConfigDict` or dict): ``PolarNeXtHead`` config.
        train_cfg (:obj:`ConfigDict` or dict, optional): Training config.
        test_cfg (:obj:`ConfigDict` or dict, optional): Testing config.
        data_preprocessor (:obj:`ConfigDict` or dict, optional): Data
            preprocessor config.
        init_cfg (:obj:`ConfigDict` or dict, optional): Initialisation.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 bbox_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=bbox_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
