"""One-to-one Hungarian matching of SparseInst's instance predictions to
the ground truth."""
from typing import List, Tuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmdet.registry import TASK_UTILS

# Added to the denominator of the Dice score (the official 1e-4).
DICE_EPS = 1e-4


def dice_score(probs: Tensor, targets: Tensor) -> Tensor:
    """Pairwise Dice coefficient 2 <p, t> / (|p|^2 + |t|^2 + eps).

    Args:
        probs (Tensor): Predicted mask probabilities (N, P).
        targets (Tensor): Soft target masks (G, P) in [0, 1].

    Returns:
        Tensor: Scores (N, G) in [0, 1].
    """
    numerator = 2 * probs @ targets.t()
    denominator = (probs * probs).sum(-1)[:, None] + \
        (targets * targets).sum(-1)[None, :]
    return numerator / (denominator + DICE_EPS)


@TASK_UTILS.register_module()
class SparseInstMatcher:
    """Hungarian matcher of SparseInst: maximises
    ``Dice(mask)^alpha * p(class)^beta`` over one-to-one assignments.

    Costs are computed without gradient, in fp32 outside autocast, and
    sanitised (NaN and inf would make ``linear_sum_assignment`` raise
    "matrix contains invalid numeric entries", official issues #66, #84).
    An image without ground truth gets empty (long) index tensors; with more
    ground truths than predictions, only as many as there are predictions
    are matched.

    Args:
        alpha (float): Exponent of the Dice score. Defaults to 0.8.
        beta (float): Exponent of the class probability. Defaults to 0.2.
    """

    def __init__(self, alpha: float = 0.8, beta: float = 0.2) -> None:
        self.alpha = alpha
        self.beta = beta

    @torch.no_grad()
    def cost(self, cls_logits: Tensor, mask_logits: Tensor,
             gt_labels: Tensor, gt_masks: Tensor) -> Tensor:
        """Matching quality of every (prediction, ground truth) pair of an
        image; higher is better.

        Args:
            cls_logits (Tensor): Class logits (N, K).
            mask_logits (Tensor): Mask logits (N, h, w).
            gt_labels (Tensor): Classes (G, ).
            gt_masks (Tensor): Soft target masks (G, h, w) in [0, 1].

        Returns:
            Tensor: Finite scores (N, G) in [0, 1], float32.
        """
        with torch.autocast(device_type=mask_logits.device.type,
                            enabled=False):
            probs = mask_logits.float().flatten(1).sigmoid()
            dice = dice_score(probs, gt_masks.float().flatten(1))
            cls_prob = cls_logits.float().sigmoid()[:, gt_labels]
            cost = dice.clamp(0, 1)**self.alpha * \
                cls_prob.clamp(0, 1)**self.beta
            return torch.nan_to_num(
                cost, nan=0., posinf=1., neginf=0.).clamp_(0, 1)

    def match_single(self, cls_logits: Tensor, mask_logits: Tensor,
                     gt_labels: Tensor,
                     gt_masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Optimal assignment of one image.

        Args: as :meth:`cost`.

        Returns:
            tuple[Tensor]: Matched prediction indices and ground-truth
            indices, both (M, ) long on the input device, M = min(N, G).
        """
        device = cls_logits.device
        if len(gt_labels) == 0 or len(cls_logits) == 0:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty.clone()
        cost = self.cost(cls_logits, mask_logits, gt_labels, gt_masks)
        pred_inds, gt_inds = linear_sum_assignment(
            cost.cpu().numpy(), maximize=True)
        return (torch.as_tensor(pred_inds, dtype=torch.long, device=device),
                torch.as_tensor(gt_inds, dtype=torch.long, device=device))

    def __call__(self, cls_logits: Tensor, mask_logits: Tensor,
                 gt_labels: List[Tensor],
                 gt_masks: List[Tensor]) -> List[Tuple[Tensor, Tensor]]:
        """Match every image of a batch.

        Args:
            cls_logits (Tensor): Class logits (B, N, K).
            mask_logits (Tensor): Mask logits (B, N, h, w).
            gt_labels (list[Tensor]): Classes (G_b, ) per image.
            gt_masks (list[Tensor]): Soft target masks (G_b, h, w) per
                image.

        Returns:
            list[tuple[Tensor, Tensor]]: (prediction indices, ground-truth
            indices) per image.
        """
        return [
            self.match_single(*args)
            for args in zip(cls_logits, mask_logits, gt_labels, gt_masks)
        ]
