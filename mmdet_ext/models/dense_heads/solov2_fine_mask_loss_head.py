"""SOLOv2 head whose masks can be finer than the official stride 4: the mask
loss computed at a finer resolution than the mask features (the way the masks
are evaluated), and mask features of any registered module."""
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from .solov2_min_area_head import SOLOV2MinAreaHead


class UpsampledProbabilityLoss(nn.Module):
    """A mask loss applied after sigmoid and bilinear upsampling of the
    predicted logits to the targets' size.

    The order (sigmoid, then upsampling) is the one of SOLOv2's inference,
    which interpolates probabilities and thresholds them at ``mask_thr``;
    with unequal logits on either side, the two orders can place a boundary up
    to half a feature cell apart.

    Args:
        loss (nn.Module): The loss on probabilities, e.g. a ``DiceLoss``
            built with ``activate=False``.
    """

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, mask_logits: Tensor, mask_targets: Tensor,
                **kwargs) -> Tensor:
        """Args:
            mask_logits (Tensor): Shape (N, h, w).
            mask_targets (Tensor): Shape (N, H, W), H >= h and W >= w.
            **kwargs: Passed to the wrapped loss (``reduction_override``...).

        Returns:
            Tensor: The wrapped loss's output.
        """
        probs = F.interpolate(
            mask_logits.sigmoid().unsqueeze(1),
            size=mask_targets.shape[-2:],
            mode='bilinear',
            align_corners=False).squeeze(1)
        return self.loss(probs, mask_targets, **kwargs)


@MODELS.register_module()
class SOLOV2FineMaskLossHead(SOLOV2MinAreaHead):
    """:class:`SOLOV2MinAreaHead` with the mask loss at a finer stride and
    the mask feature module as an option.

    MMDetection's SOLOv2 (as the official code) trains each mask on the
    ground truth rescaled to its stride-4 mask features, but evaluates it
    after bilinear upsampling to the image. On objects of a few feature cells
    (5-20 px at the tiny configs' 512 px) the coarse target quantises their
    shape to whole cells, and nothing trains the sub-cell boundary that the
    upsampled mask actually has. With ``mask_loss_stride`` set, the predicted
    mask probabilities are upsampled bilinearly, as at inference, and the mask
    loss compares them with the ground truth at that stride. The predictions,
    the grid assignment, the classification loss and inference are
    unchanged.

    ``SOLOV2Head`` always builds MMDetection's ``MaskFeatModule``; a ``type``
    in ``mask_feature_head`` builds that module from the registry instead,
    e.g. ``UpsampledMaskFeatModule`` for masks at stride 2. The head then
    takes its ``mask_stride`` (targets, inference) from the module.

    Args:
        mask_loss_stride (int, optional): Stride (in input pixels) at which
            the mask loss is computed; it must divide the mask features'
            stride. None (default) keeps the official loss at the mask
            features' stride.
        loss_mask (dict): The mask loss on probabilities. It must accept an
            ``activate`` argument (as ``DiceLoss``) when ``mask_loss_stride``
            is set.
        mask_feature_head (dict): As :class:`SOLOV2Head`'s, optionally with
            the ``type`` of a registered mask feature module.
        *args, **kwargs: Arguments of :class:`SOLOV2MinAreaHead`.
    """

    def __init__(self,
                 *args,
                 mask_loss_stride: Optional[int] = None,
                 loss_mask: ConfigType = dict(
                     type='DiceLoss', use_sigmoid=True, loss_weight=3.0),
                 mask_feature_head: ConfigType,
                 **kwargs) -> None:
        mask_feature_head = dict(mask_feature_head)
        feature_type = mask_feature_head.pop('type', None)
        super().__init__(
            *args,
            loss_mask=loss_mask,
            mask_feature_head=mask_feature_head,
            **kwargs)
        if feature_type is not None:
            # SOLOV2Head builds MaskFeatModule by name; rebuild it from the
            # registry with the same (in_channels-updated) arguments.
            self.mask_feature_head = MODELS.build(
                dict(
                    mask_feature_head,
                    type=feature_type,
                    in_channels=self.in_channels))
            self.mask_stride = self.mask_feature_head.mask_stride
        if mask_loss_stride is not None:
            if (not isinstance(mask_loss_stride, int) or mask_loss_stride < 1
                    or self.mask_stride % mask_loss_stride):
                raise ValueError(
                    'mask_loss_stride must be a positive integer dividing '
                    f'the mask stride {self.mask_stride}, got '
                    f'{mask_loss_stride!r}')
            self.loss_mask = UpsampledProbabilityLoss(
                MODELS.build(dict(loss_mask, activate=False)))
        self.mask_loss_stride = mask_loss_stride

    @contextmanager
    def _target_stride(self) -> Iterator[None]:
        """Let the parent's target builder rescale the ground-truth masks by
        ``1 / mask_loss_stride``: ``mask_stride`` is its only scale."""
        mask_stride = self.mask_stride
        self.mask_stride = self.mask_loss_stride
        try:
            yield
        finally:
            self.mask_stride = mask_stride

    def _get_targets_single(
            self,
            gt_instances: InstanceData,
            featmap_sizes: Optional[Tuple[int, int]] = None) -> tuple:
        """:meth:`SOLOV2Head._get_targets_single` with mask targets at
        ``mask_loss_stride``.

        The grid assignment reads the image size as ``featmap_sizes *
        mask_stride``; the finer size times the finer stride is the same
        image size, so the positives are those of the official head.

        Returns:
            tuple: As the parent's; the mask targets have shape
            (num_pos, h * r, w * r), r = mask_stride / mask_loss_stride.
        """
        if self.mask_loss_stride is None:
            return super()._get_targets_single(gt_instances, featmap_sizes)
        ratio = self.mask_stride // self.mask_loss_stride
        fine_sizes = (featmap_sizes[0] * ratio, featmap_sizes[1] * ratio)
        with self._target_stride():
            return super()._get_targets_single(
                gt_instances, featmap_sizes=fine_sizes)
