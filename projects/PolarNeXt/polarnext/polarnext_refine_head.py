"""PolarNeXt with contour refinement (ours, not in the paper): the polygons
of the dense head are refined by :class:`RayRefiner` steps that read the
finest feature map along each ray, and scored by the last step's quality."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptInstanceList, reduce_mean)
from mmdet_ext.models.dense_heads.base_polar_head import (
    POLAR_IOU_LOSS, QUALITY_BCE_LOSS)
from mmdet_ext.task_modules import PositiveTargets
from mmdet_ext.utils.config_utils import check_choice
from .polarnext_head import PolarNeXtHead

REFINE_SCORES = ('refined', 'initial', 'product')


def polar_area_iou(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """IoU of two polygons of rays from the same origin, sector by sector:
    ``sum_k min(d, d*)^2 / sum_k max(d, d*)^2`` (n, ); the area IoU of
    star-shaped polygons whose rays are dense."""
    inter = torch.minimum(pred, target).pow(2).sum(-1)
    union = torch.maximum(pred, target).pow(2).sum(-1).clamp(min=eps)
    return inter / union


def refined_quality(initial: Tensor, refined_logits: Tensor,
                    mode: str) -> Tensor:
    """The quality that multiplies the class score (n, ), in [0, 1].

    Args:
        initial (Tensor): The dense head's quality, a sigmoid (n, ).
        refined_logits (Tensor): The last refinement step's logits (n, ).
        mode (str): ``'refined'``, ``'initial'`` or ``'product'`` (the
            geometric mean of both).
    """
    check_choice('refine_score', mode, REFINE_SCORES)
    if mode == 'initial':
        return initial
    refined = refined_logits.sigmoid()
    return refined if mode == 'refined' else (initial * refined).sqrt()


@MODELS.register_module()
class PolarNeXtRefineHead(PolarNeXtHead):
    """:class:`PolarNeXtHead` followed by ``num_refine_steps`` contour
    refinement steps.

    The refinement reads a feature map of the finest level (its own tower of
    ``num_refine_convs`` convolutions on the first input level) along the rays
    of each polygon (:class:`RayRefiner`) and rescales every ray; the last
    step also predicts the mask quality of its polygon. The origins, classes
    and first rays are those of PolarNeXt, trained as in the paper.

    Training: every step's rays of the matched positives get a polar IoU
    loss (``loss_refine``) against the positives' ray targets, and the last
    step's quality logit a BCE loss (``loss_refine_quality``) against the
    sector IoU of its rays with the targets (:func:`polar_area_iou`).
    Inference: the rows that pass the score threshold and top-k of every
    level are refined before NMS; their score is ``cls * quality`` with the
    quality chosen by ``test_cfg.refine_score``: ``'refined'`` (default, the
    last step's), ``'initial'`` (the dense head's) or ``'product'`` (the
    geometric mean of both).

    Args:
        num_refine_steps (int): Refinement steps. Defaults to 2.
        num_refine_convs (int): Convolutions of the refinement tower on the
            first input level; 0 samples that level itself. Defaults to 2.
        refiner (:obj:`ConfigDict` or dict): Options of :class:`RayRefiner`
            (``in_channels`` and ``num_rays`` come from the head).
        loss_refine (:obj:`ConfigDict` or dict): Ray loss of every step.
        loss_refine_quality (:obj:`ConfigDict` or dict): Quality loss of the
            last step.
        **kwargs: Arguments of :class:`PolarNeXtHead`.
    """

    def __init__(self,
                 *args,
                 num_refine_steps: int = 2,
                 num_refine_convs: int = 2,
                 refiner: ConfigType = dict(),
                 loss_refine: ConfigType = POLAR_IOU_LOSS,
                 loss_refine_quality: ConfigType = QUALITY_BCE_LOSS,
                 **kwargs) -> None:
        if num_refine_steps < 1:
            raise ValueError(
                f'num_refine_steps must be >= 1, got {num_refine_steps}')
        self.num_refine_steps = num_refine_steps
        self.num_refine_convs = num_refine_convs
        self.refiner_cfg = dict(refiner)
        super().__init__(*args, **kwargs)
        self.loss_refine = MODELS.build(loss_refine)
        self.loss_refine_quality = MODELS.build(loss_refine_quality)

    def _init_layers(self) -> None:
        """PolarNeXt's layers, the refinement tower and the steps."""
        super()._init_layers()
        self.refine_convs = self._build_tower(self.num_refine_convs)
        # Only the last step's quality scores and is trained.
        self.refiners = nn.ModuleList([
            MODELS.build(
                dict(
                    type='RayRefiner',
                    in_channels=(self.feat_channels if self.num_refine_convs
                                 else self.in_channels),
                    num_rays=self.num_rays,
                    with_quality=step == self.num_refine_steps - 1,
                    **self.refiner_cfg))
            for step in range(self.num_refine_steps)
        ])

    def forward(
        self, x: Tuple[Tensor, ...]
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Forward all levels.

        Returns:
            tuple: PolarNeXt's outputs (:meth:`PolarNeXtHead.forward`) and,
            as a one-element list, the refinement features
            (B, feat_channels, H_0, W_0) of the first level.
        """
        cls_scores, ray_preds, quality_preds = super().forward(x)
        return cls_scores, ray_preds, quality_preds, [self.refine_convs(x[0])]

    def refine(self, refine_feats: Tensor, points: Tensor, rays: Tensor,
               batch_inds: Tensor) -> Tuple[List[Tensor], Tensor]:
        """Run the refinement steps.

        Args:
            refine_feats (Tensor): (B, C, H_0, W_0), of stride
                ``strides[0]``.
            points (Tensor): Ray origins in input pixels (n, 2).
            rays (Tensor): First rays in input pixels (n, K).
            batch_inds (Tensor): Image of each row (n, ).

        Returns:
            tuple: The rays after each step, (n, K) each, and the quality
            logits of the last step (n, ).
        """
        steps = []
        for refiner in self.refiners:
            rays, quality = refiner(refine_feats, self.strides[0], points,
                                    rays, batch_inds)
            steps.append(rays)
        return steps, quality

    # -------------------------------------------------------------- loss
    def loss_by_feat(
        self,
        cls_scores: List[Tensor],
        ray_preds: List[Tensor],
        quality_preds: List[Tensor],
        refine_feats: List[Tensor],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        batch_gt_instances_ignore: OptInstanceList = None
    ) -> Dict[str, Tensor]:
        """PolarNeXt's losses and ``loss_refine{i}`` (one per step) and
        ``loss_refine_quality``; arguments as
        :meth:`PolarNeXtHead.loss_by_feat` with the refinement features
        (see :meth:`forward`)."""
        losses, pos, num_points = self._losses_and_positives(
            cls_scores, ray_preds, quality_preds, batch_gt_instances)
        losses.update(self._refine_losses(refine_feats[0], pos, num_points))
        return losses

    def _refine_losses(self, refine_feats: Tensor, pos: PositiveTargets,
                       num_points: int) -> Dict[str, Tensor]:
        """Losses of the refinement steps on the positives."""
        steps, quality = self.refine(refine_feats, pos.points,
                                     pos.pred_rays,
                                     pos.point_inds // num_points)
        num_pos = refine_feats.new_tensor(float(len(pos)))
        num_pos = max(reduce_mean(num_pos).item(), 1.0)
        if len(pos) == 0:
            # Zero losses that keep every parameter in the graph (DDP): an
            # empty grid-sample passes no gradient to the features.
            zero = (sum(rays.sum() for rays in steps) + quality.sum() +
                    refine_feats.sum()) * 0
            losses = {f'loss_refine{i}': zero for i in range(len(steps))}
            losses['loss_refine_quality'] = zero
            return losses
        losses = {
            f'loss_refine{i}': self.loss_refine(
                rays, pos.target_rays, avg_factor=num_pos)
            for i, rays in enumerate(steps)
        }
        target = polar_area_iou(steps[-1].detach(), pos.target_rays.float())
        losses['loss_refine_quality'] = self.loss_refine_quality(
            quality, target, avg_factor=num_pos)
        return losses

    # --------------------------------------------------------- inference
    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        ray_preds: List[Tensor],
                        quality_preds: List[Tensor],
                        refine_feats: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """As :meth:`PolarNeXtHead.predict_by_feat`, with the polygons
        refined before NMS; ``refine_feats`` as returned by
        :meth:`forward`."""
        cfg = ConfigDict(self.test_cfg if cfg is None else cfg)
        mode = cfg.get('refine_score', 'refined')
        mlvl_points = self._mlvl_points(cls_scores)
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            scores, labels, rays, points, quality = self._select_rows(
                [s[i] for s in cls_scores], [r[i] for r in ray_preds],
                [q[i] for q in quality_preds], mlvl_points, cfg)
            steps, logits = self.refine(refine_feats[0][i:i + 1], points,
                                        rays, labels.new_zeros(len(labels)))
            quality = refined_quality(quality, logits, mode)
            results.append(
                self._polygon_results(scores * quality, labels, points,
                                      steps[-1], img_meta, cfg, rescale,
                                      with_nms))
        return results
