"""PolarNeXt detector."""
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.registry import MODELS


@MODELS.register_module()
class PolarNeXt(SingleStageDetector):
    """`PolarNeXt (CVPR 2025)`: a single-stage detector whose masks are
    polygons of rays from each location, trained with ray targets and a
    differentiable soft rasterisation of the polygon.

    The head (:class:`PolarNeXtHead`) returns boxes, scores, labels,
    polygons and (optionally) RLE masks, which MMDetection's ``CocoMetric``,
    visualiser and ``DetInferencer`` consume directly. Arguments as
    :class:`SingleStageDetector`.
    """
