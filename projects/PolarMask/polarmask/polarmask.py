"""PolarMask detector."""
from mmdet.models.detectors.single_stage import SingleStageDetector
from mmdet.registry import MODELS


@MODELS.register_module()
class PolarMask(SingleStageDetector):
    """`PolarMask (CVPR 2020) <https://arxiv.org/abs/1909.13226>`_: FCOS with
    a 36-ray polygon per location instead of (or besides) a box.

    A plain single-stage detector (backbone, FPN, :class:`PolarMaskHead`);
    the head returns boxes, scores, labels, polygons and (optionally) RLE
    masks for MMDetection's ``CocoMetric``, visualiser and
    ``DetInferencer``. Arguments as :class:`SingleStageDetector`.
    """
