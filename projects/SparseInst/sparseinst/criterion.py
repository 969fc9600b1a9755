"""SparseInst's training losses on Hungarian-matched predictions."""
from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn

from mmdet.registry import MODELS, TASK_UTILS
from mmdet.utils import ConfigType, InstanceList, reduce_mean


@MODELS.register_module()
class SparseInstCriterion(nn.Module):
    """Losses of SparseInst.

    After one-to-one matching (:class:`SparseInstMatcher`):

    - classification: sigmoid focal loss over all B * N * K logits (the
      target is the matched ground truth's class, background otherwise),
      divided by the number of ground truths (averaged over processes);
    - objectness: binary cross-entropy of a matched prediction's objectness
      logit against the IoU of its binarised mask with its target, averaged
      over the matched pairs;
    - Dice loss of the matched masks, divided by the number of ground
      truths;
    - pixel-wise binary cross-entropy of the matched masks, averaged over
      all their pixels.

    A batch without ground truth gives zero mask and objectness losses that
    keep every output in the graph (distributed training needs a gradient
    for every parameter), and a pure-background classification loss.

    Args:
        num_classes (int): Number of classes K.
        matcher (dict): Config of the matcher.
        loss_cls (dict): Classification loss (sigmoid, class indices with
            background K, ``reduction='mean'`` with ``avg_factor``).
        loss_obj (dict): Objectness loss (sigmoid, soft targets, mean).
        loss_dice (dict): Dice loss (``reduction='mean'`` with
            ``avg_factor``).
        loss_mask (dict): Pixel-wise mask loss (sigmoid, mean).
        iou_pred_thr (float): Binarisation threshold of the predicted mask
            probabilities for the objectness target. Defaults to 0.4.
        iou_target_thr (float): Binarisation threshold of the soft targets
            for the objectness target. Defaults to 0.5.
    """

    def __init__(self,
                 num_classes: int,
                 matcher: ConfigType = dict(
                     type='SparseInstMatcher', alpha=0.8, beta=0.2),
                 loss_cls: ConfigType = dict(
                     type='FocalLoss',
                     use_sigmoid=True,
                     alpha=0.25,
                     gamma=2.0,
                     loss_weight=2.0),
                 loss_obj: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=1.0),
                 loss_dice: ConfigType = dict(
                     type='DiceLoss',
                     use_sigmoid=True,
                     activate=True,
                     naive_dice=False,
                     eps=5e-5,
                     loss_weight=2.0),
                 loss_mask: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=5.0),
                 iou_pred_thr: float = 0.4,
                 iou_target_thr: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.matcher = TASK_UTILS.build(matcher)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_obj = MODELS.build(loss_obj)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_mask = MODELS.build(loss_mask)
        self.iou_pred_thr = iou_pred_thr
        self.iou_target_thr = iou_target_thr

    def num_instances(self, targets: InstanceList, device) -> float:
        """Ground truths per process, averaged over processes, >= 1.

        Every process joins the all-reduce, with or without ground truth.
        """
        total = torch.tensor(
            float(sum(len(t) for t in targets)), device=device)
        return max(float(reduce_mean(total)), 1.0)

    def forward(self, outputs: Dict[str, Tensor],
                targets: InstanceList) -> Dict[str, Tensor]:
        """
        Args:
            outputs (dict[str, Tensor]): Decoder outputs ``pred_logits``
                (B, N, K), ``pred_scores`` (B, N, 1) and ``pred_masks``
                (B, N, h, w).
            targets (list[:obj:`InstanceData`]): Per image ``labels``
                (G_b, ) and ``masks`` (G_b, h, w), soft targets in [0, 1] at
                the resolution of ``pred_masks``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_obj``, ``loss_dice``,
            ``loss_mask``.
        """
        logits = outputs['pred_logits']
        masks = outputs['pred_masks']
        indices = self.matcher(logits, masks, [t.labels for t in targets],
                               [t.masks for t in targets])
        num_instances = self.num_instances(targets, logits.device)
        losses = dict(
            loss_cls=self.classification_loss(logits, targets, indices,
                                              num_instances))
        losses.update(
            self.mask_losses(masks, outputs['pred_scores'], targets,
                             indices, num_instances))
        return losses

    def classification_loss(self, logits: Tensor, targets: InstanceList,
                            indices: List[Tuple[Tensor, Tensor]],
                            num_instances: float) -> Tensor:
        """Focal loss of all queries; unmatched ones are background."""
        labels = torch.full(
            logits.shape[:2], self.num_classes, dtype=torch.long,
            device=logits.device)
        for b, (pred_inds, gt_inds) in enumerate(indices):
            labels[b, pred_inds] = targets[b].labels[gt_inds]
        return self.loss_cls(
            logits.float().flatten(0, 1),
            labels.flatten(),
            avg_factor=num_instances)

    def mask_losses(self, masks: Tensor, scores: Tensor,
                    targets: InstanceList,
                    indices: List[Tuple[Tensor, Tensor]],
                    num_instances: float) -> Dict[str, Tensor]:
        """Objectness, Dice and pixel-wise losses of the matched pairs."""
        src_masks = torch.cat(
            [masks[b, pred_inds] for b, (pred_inds, _) in enumerate(indices)])
        if len(src_masks) == 0:
            zero = masks.sum() * 0. + scores.sum() * 0.
            return dict(loss_obj=zero, loss_dice=zero, loss_mask=zero)
        src_scores = torch.cat(
            [scores[b, pred_inds, 0]
             for b, (pred_inds, _) in enumerate(indices)])
        tgt_masks = torch.cat([
            targets[b].masks[gt_inds]
            for b, (_, gt_inds) in enumerate(indices)
        ]).to(src_masks.dtype)
        src_masks = src_masks.float().flatten(1)
        tgt_masks = tgt_masks.float().flatten(1)
        ious = self.mask_iou(src_masks.detach(), tgt_masks)
        return dict(
            loss_obj=self.loss_obj(src_scores.float(), ious),
            loss_dice=self.loss_dice(
                src_masks, tgt_masks, avg_factor=num_instances),
            loss_mask=self.loss_mask(src_masks, tgt_masks))

    @torch.no_grad()
    def mask_iou(self, mask_logits: Tensor, targets: Tensor) -> Tensor:
        """IoU of binarised predictions and targets (the objectness target).

        Args:
            mask_logits (Tensor): Matched mask logits (M, P).
            targets (Tensor): Their soft targets (M, P).

        Returns:
            Tensor: IoUs (M, ) in [0, 1].
        """
        pred = mask_logits.sigmoid() >= self.iou_pred_thr
        target = targets > self.iou_target_thr
        inter = (pred & target).sum(-1).float()
        union = (pred | target).sum(-1).float()
        return inter / (union + 1e-6)

