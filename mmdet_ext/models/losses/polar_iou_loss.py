"""Polar IoU loss of PolarMask / PolarNeXt."""
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.models.losses.utils import weighted_loss
from mmdet.registry import MODELS


@weighted_loss
def polar_iou_loss(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """log(sum_k max(d_k, d*_k) / sum_k min(d_k, d*_k)) per sample.

    This is -log of the polar IoU: the IoU of two star polygons sharing a
    centre, approximated ray by ray (PolarMask, eq. 5).

    Args:
        pred (Tensor): Predicted ray lengths (n, K), positive.
        target (Tensor): Target ray lengths (n, K), positive.
        eps (float): Floor of both sums, so that non-positive input gives a
            large finite loss instead of inf/NaN.

    Returns:
        Tensor: Loss per sample, shape (n, ).
    """
    total_max = torch.max(pred, target).sum(dim=-1).clamp(min=eps)
    total_min = torch.min(pred, target).sum(dim=-1).clamp(min=eps)
    return torch.log(total_max / total_min)


@MODELS.register_module()
class PolarIoULoss(nn.Module):
    """Polar IoU loss, ``log(sum max / sum min)`` over the rays.

    Args:
        eps (float): Floor of the two sums. Defaults to 1e-6.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Predicted ray lengths (n, K).
            target (Tensor): Target ray lengths (n, K).
            weight (Tensor, optional): Per-sample weight (n, ).
            avg_factor (float, optional): Normaliser of the summed loss.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss (scalar unless reduction is ``'none'``).
        """
        reduction = reduction_override or self.reduction
        # Geometry in fp32 even under autocast: the log ratio is sensitive.
        return self.loss_weight * polar_iou_loss(
            pred.float(),
            target.float(),
            weight=weight,
            eps=self.eps,
            reduction=reduction,
            avg_factor=avg_factor)
