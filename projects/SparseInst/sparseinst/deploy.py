"""ONNX export of SparseInst: an NMS-free graph with masks out.

The graph (:class:`SparseInstExportWrapper`) runs the preprocessing,
backbone, encoder and decoder and the query selection of
:meth:`SparseInst._predict_single` (score threshold, maskness, top
``max_per_img``). It returns the kept queries' mask probabilities at stride 4
of the padded input; :func:`sparseinst_instances` finishes them outside the
graph exactly as the PyTorch model does (upsampling, crop, rescale,
binarisation, boxes from the masks, RLE), so that ``CocoMetric`` and the
visualiser take the result as they take the PyTorch model's.

Importing this module registers both with :mod:`mmdet_ext.deployment`.
"""
from typing import Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_ext.deployment.export_wrappers import (DetectorExportWrapper,
                                                  jsonable,
                                                  register_export_wrapper,
                                                  top_rows)
from mmdet_ext.deployment.postprocess import register_postprocessor
from .sparseinst import (DEFAULT_TEST_CFG, SparseInst, encode_rle,
                         full_resolution_masks, mask_boxes, stride4_boxes)

#: Outputs of the SparseInst graph, in order.
SPARSEINST_OUTPUTS = ('scores', 'labels', 'mask_probs')


@register_export_wrapper('SparseInst')
class SparseInstExportWrapper(DetectorExportWrapper):
    """Export wrapper of :class:`SparseInst` (no NMS: ``with_nms`` is
    ignored).

    Outputs, at most ``max_per_img`` queries by decreasing score:

    - ``scores`` (n, ) float32: sqrt(cls * obj) of the best class times the
      maskness;
    - ``labels`` (n, ) int64;
    - ``mask_probs`` (n, h, w) float32: mask probabilities at stride 4 of
      the padded graph input.
    """

    output_names = SPARSEINST_OUTPUTS
    uses_nms = False

    def __init__(self, detector: nn.Module, with_nms: bool = False) -> None:
        super().__init__(detector, with_nms)
        self.test_cfg = dict(DEFAULT_TEST_CFG, **dict(detector.test_cfg))

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Instances of one image (1, 3, H, W) (see
        :class:`DetectorExportWrapper`)."""
        outputs = self.detector._forward(self.preprocess(image))
        scores = (outputs['pred_logits'][0].float().sigmoid() *
                  outputs['pred_scores'][0].float().sigmoid()).sqrt()
        scores, labels = scores.max(dim=-1)
        keep = scores > float(self.test_cfg['score_thr'])
        probs = outputs['pred_masks'][0][keep].float().sigmoid()
        scores = scores[keep] * SparseInst.maskness(
            probs, float(self.test_cfg['mask_thr']))
        order = top_rows(scores, int(self.test_cfg['max_per_img']))
        return scores[order], labels[keep][order], probs[order]

    def metadata(self) -> dict:
        meta = super().metadata()
        meta.update(
            num_classes=int(self.detector.decoder.num_classes),
            pad_size_divisor=self.pad_size_divisor,
            test_cfg=jsonable(self.test_cfg))
        return meta


@register_postprocessor('SparseInstExportWrapper')
def sparseinst_instances(outputs: Mapping[str, np.ndarray],
                         img_meta: Mapping,
                         metadata: Mapping,
                         rescale: bool = True,
                         mask_output: Optional[bool] = None) -> InstanceData:
    """SparseInst graph outputs to instances, as
    :meth:`SparseInst._predict_single` returns them (see
    :func:`mmdet_ext.deployment.postprocess.postprocess`).

    Returns:
        :obj:`InstanceData`: ``scores`` (n, ), ``labels`` (n, ), ``bboxes``
        (n, 4) and, with ``mask_output``, ``masks`` (:class:`RLEMasks`).
    """
    test_cfg = metadata.get('test_cfg', {})
    probs = torch.from_numpy(np.asarray(outputs['mask_probs']))
    img_shape = tuple(img_meta['img_shape'][:2])
    divisor = int(metadata.get('pad_size_divisor', 1))
    pad_shape = tuple(-(-size // divisor) * divisor for size in img_shape)
    results = InstanceData(
        scores=torch.from_numpy(np.asarray(outputs['scores'])),
        labels=torch.from_numpy(np.asarray(outputs['labels'])).long())
    if mask_output is None:
        mask_output = test_cfg.get('mask_output', True)
    mask_thr = float(test_cfg.get('mask_thr', DEFAULT_TEST_CFG['mask_thr']))
    if mask_output:
        out_shape = (tuple(img_meta['ori_shape'][:2]) if rescale else
                     img_shape)
        masks = full_resolution_masks(probs, pad_shape, img_shape, out_shape,
                                      mask_thr)
        results.bboxes = mask_boxes(masks)
        results.masks = encode_rle(masks)
    else:
        results.bboxes = stride4_boxes(
            probs > mask_thr, pad_shape, img_shape,
            img_meta['scale_factor'] if rescale else None)
    return results
