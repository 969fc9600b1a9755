"""ONNX export of :class:`PolarNeXtRefineHead`: PolarNeXt's candidates,
refined in the graph before NMS."""
from typing import List, Tuple

from torch import Tensor

from mmdet_ext.deployment import (polar_instances, register_export_wrapper,
                                  register_postprocessor)
from mmdet_ext.deployment.export_wrappers import (Candidates,
                                                  PolarNeXtExportWrapper)
from .polarnext_refine_head import refined_quality

# Its graph has PolarNeXt's outputs.
register_postprocessor('PolarNeXtRefineExportWrapper')(polar_instances)


@register_export_wrapper('PolarNeXtRefineHead')
class PolarNeXtRefineExportWrapper(PolarNeXtExportWrapper):
    """PolarNeXt's rows (:meth:`PolarNeXtExportWrapper.selected_rows`), their
    rays refined by the head's steps and scored as
    ``test_cfg.refine_score`` says (:meth:`PolarNeXtRefineHead.predict_by_feat`)."""

    def candidates(self, head_outputs: Tuple[List[Tensor], ...], height,
                   width) -> Candidates:
        cls_scores, ray_preds, quality_preds, refine_feats = head_outputs
        rows = self.selected_rows(cls_scores, ray_preds, quality_preds)
        steps, logits = self.head.refine(refine_feats[0], rows['points'],
                                         rows['rays'],
                                         rows['labels'].new_zeros(
                                             rows['labels'].shape))
        quality = refined_quality(rows['quality'], logits,
                                  self.test_cfg.get('refine_score', 'refined'))
        return Candidates(rows['cls'] * quality, rows['labels'],
                          rows['points'], steps[-1])
