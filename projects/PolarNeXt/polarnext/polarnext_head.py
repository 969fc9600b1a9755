"""PolarNeXt head: FCOS-like towers predicting classes, rays and mask quality."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import Scale
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor
from torch.profiler import record_function

from mmdet.models.losses import QualityFocalLoss
from mmdet.models.utils import filter_scores_and_topk, multi_apply
from mmdet.registry import MODELS
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptInstanceList, reduce_mean)
from mmdet_ext.models.dense_heads.base_polar_head import (
    FOCAL_LOSS, POLAR_IOU_LOSS, QUALITY_BCE_LOSS, BasePolarHead)
from mmdet_ext.task_modules import PositiveTargets
from mmdet_ext.utils.config_utils import check_choice

RAY_ACTIVATIONS = ('linear', 'exp')
LOSS_WEIGHTINGS = ('iou', 'uniform')
CLS_TARGETS = ('label', 'iou')
# exp() of a larger raw output exceeds any image (e^12 strides).
MAX_LOG_RAY = 12.0


@MODELS.register_module()
class PolarNeXtHead(BasePolarHead):
    """Polar instance-segmentation head of `PolarNeXt (CVPR 2025)`.

    Each location of P3-P7 predicts ``num_classes`` sigmoid logits (classification
    tower), ``num_rays`` ray lengths and one mask-quality logit (both on the
    regression tower). Ray k leaves the location at angle ``2 pi k / K``
    (0 along +x, y pointing down); its length is ``Scale_l(conv) * stride``
    clamped to at least ``ray_min``, as in the official model
    (``ray_activation='linear'``), or ``exp(Scale_l(conv)) * stride``
    (``'exp'``: no dead rays below the clamp, relative steps).

    Training (see :class:`PolarTargetBuilder`): centre-sampling candidates on
    all levels, ray targets, soft-rasterised predicted masks against crops
    rasterised from the GT polygons, top-cost matching, then focal, polar
    IoU, Dice and quality losses. Inference: score threshold, top-k per level,
    ``cls * sigmoid(quality)``, class-aware NMS on the polygon boxes, and
    optionally RLE masks at the output resolution.

    Args:
        num_classes (int): Number of categories (background excluded).
        in_channels (int): Channels of the input feature maps.
        ray_min (float): Floor of predicted ray lengths. Defaults to 0.01.
        ray_activation (str): ``'linear'`` (official: ``Scale * conv *
            stride`` clamped at ``ray_min``; a negative raw output gets no
            gradient) or ``'exp'`` (``exp(Scale * conv) * stride``; every ray
            gets a gradient and starts at one stride).
        loss_weighting (str): Weights of the polar and Dice losses of the
            positives: ``'iou'`` (official: the detached soft IoU of each
            prediction, normalised by its sum, so poorly predicted positives
            get little regression gradient) or ``'uniform'`` (mean over the
            positives).
        cls_target (str): Class target of a positive: ``'label'`` (official:
            1 for its class, with ``FocalLoss``) or ``'iou'`` (the detached
            soft IoU of its polygon, with mmdet's ``QualityFocalLoss``, as in
            GFL: the class score learns to rank a point's polygons by their
            quality).
        target_builder (:obj:`ConfigDict` or dict): Options of
            :class:`PolarTargetBuilder` (sampling radius, mask size, tau, ray
            origin, target parts, fallback candidate, cost mask, ray coder,
            matcher); the options it leaves out take the builder's defaults,
            which are not all official: the base config
            (``configs/_base_/polarnext_r50-torch_fpn.py``) spells out the
            official ones. ``num_classes``, ``num_rays`` and the matcher's
            cost weights (the loss weights) and focal parameters
            (``loss_cls``'s) come from the head and its losses.
        loss_cls (:obj:`ConfigDict` or dict): Classification loss.
        loss_polar (:obj:`ConfigDict` or dict): Ray loss (polar IoU).
        loss_dice (:obj:`ConfigDict` or dict): Mask loss on the soft masks.
        loss_quality (:obj:`ConfigDict` or dict): Quality (mask IoU) loss.
        **kwargs: ``feat_channels``, ``stacked_convs``, ``strides``,
            ``num_rays``, ``conv_cfg``, ``norm_cfg``, ``train_cfg``,
            ``test_cfg`` and ``init_cfg`` of :class:`BasePolarHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 ray_min: float = 0.01,
                 ray_activation: str = 'linear',
                 loss_weighting: str = 'iou',
                 cls_target: str = 'label',
                 target_builder: ConfigType = dict(),
                 loss_cls: ConfigType = FOCAL_LOSS,
                 loss_polar: ConfigType = POLAR_IOU_LOSS,
                 loss_dice: ConfigType = dict(
                     type='DiceLoss',
                     use_sigmoid=False,
                     activate=False,
                     naive_dice=True,
                     eps=1.0,
                     loss_weight=1.0),
                 loss_quality: ConfigType = QUALITY_BCE_LOSS,
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes, in_channels=in_channels, **kwargs)
        check_choice('ray_activation', ray_activation, RAY_ACTIVATIONS)
        check_choice('loss_weighting', loss_weighting, LOSS_WEIGHTINGS)
        check_choice('cls_target', cls_target, CLS_TARGETS)
        self.ray_min = ray_min
        self.ray_activation = ray_activation
        self.loss_weighting = loss_weighting
        self.cls_target = cls_target
        self.loss_cls = MODELS.build(loss_cls)
        if (cls_target == 'iou') != isinstance(self.loss_cls,
                                               QualityFocalLoss):
            raise ValueError(
                "cls_target='iou' goes with loss_cls QualityFocalLoss and "
                f"'label' with a hard-label loss; got {cls_target!r} with "
                f'{type(self.loss_cls).__name__}')
        self.loss_polar = MODELS.build(loss_polar)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_quality = MODELS.build(loss_quality)
        self.target_builder = self._build_target_builder(
            target_builder, loss_cls)
        self._init_layers()

    # Official checkpoints (Sun15194/PolarNeXt) name the ray and quality
    # predictors after FCOS; everything else has our names already.
    OFFICIAL_KEYS = {'conv_reg.': 'conv_rays.', 'conv_centerness.': 'conv_quality.'}

    # ------------------------------------------------------------ layers
    def _init_layers(self) -> None:
        """Two towers, three predictors and one learnable scale per level."""
        self.cls_convs = self._build_tower()
        self.reg_convs = self._build_tower()
        self.conv_cls = nn.Conv2d(
            self.feat_channels, self.num_classes, 3, padding=1)
        self.conv_rays = nn.Conv2d(
            self.feat_channels, self.num_rays, 3, padding=1)
        self.conv_quality = nn.Conv2d(self.feat_channels, 1, 3, padding=1)
        self.scales = nn.ModuleList([Scale(1.0) for _ in self.strides])

    # ----------------------------------------------------------- forward
    def forward(
        self, x: Tuple[Tensor, ...]
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """Forward all levels.

        Args:
            x (tuple[Tensor]): Features of each level, (B, C, H_l, W_l).

        Returns:
            tuple: Per level, class logits (B, num_classes, H_l, W_l), ray
            lengths in input pixels (B, num_rays, H_l, W_l), float32, and
            quality logits (B, 1, H_l, W_l).
        """
        return multi_apply(self.forward_single, x, self.scales, self.strides)

    def forward_single(self, x: Tensor, scale: Scale,
                       stride: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Forward one level (see :meth:`forward`)."""
        cls_feat = self.cls_convs(x)
        reg_feat = self.reg_convs(x)
        cls_score = self.conv_cls(cls_feat)
        rays = self._ray_lengths(scale(self.conv_rays(reg_feat)), stride)
        quality = self.conv_quality(reg_feat)
        return cls_score, rays, quality

    def _ray_lengths(self, raw: Tensor, stride: int) -> Tensor:
        """Ray lengths in input pixels from the scaled raw outputs, in fp32
        even under autocast (they feed the geometry)."""
        raw = raw.float()
        if self.ray_activation == 'exp':
            return raw.clamp(max=MAX_LOG_RAY).exp() * stride
        return (raw * stride).clamp(min=self.ray_min)

    # -------------------------------------------------------------- loss
    def loss_by_feat(
        self,
        cls_scores: List[Tensor],
        ray_preds: List[Tensor],
        quality_preds: List[Tensor],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        batch_gt_instances_ignore: OptInstanceList = None
    ) -> Dict[str, Tensor]:
        """Compute the losses.

        Args:
            cls_scores (list[Tensor]): Class logits per level,
                (B, num_classes, H_l, W_l).
            ray_preds (list[Tensor]): Ray lengths per level,
                (B, num_rays, H_l, W_l).
            quality_preds (list[Tensor]): Quality logits per level,
                (B, 1, H_l, W_l).
            batch_gt_instances (list[:obj:`InstanceData`]): GT per image with
                ``labels`` and polygon ``masks``.
            batch_img_metas (list[dict]): Meta information per image.
            batch_gt_instances_ignore (list[:obj:`InstanceData`], optional):
                Ignored (crowd) instances; like the official model, they are
                treated as background.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_polar``, ``loss_dice`` and
            ``loss_quality``.
        """
        return self._losses_and_positives(cls_scores, ray_preds,
                                          quality_preds,
                                          batch_gt_instances)[0]

    def _losses_and_positives(
            self, cls_scores: List[Tensor], ray_preds: List[Tensor],
            quality_preds: List[Tensor], batch_gt_instances: InstanceList
    ) -> Tuple[Dict[str, Tensor], PositiveTargets, int]:
        """The losses of :meth:`loss_by_feat`, the positives they were
        computed on and the number of points P of one image (a positive's
        image is ``point_inds // P``), for subclasses that add losses."""
        device = cls_scores[0].device
        points, point_strides = self._points(
            [s.shape[-2:] for s in cls_scores], device)
        flat_cls = self._flatten_levels(cls_scores)
        flat_rays = self._flatten_levels(ray_preds)
        flat_quality = self._flatten_levels(quality_preds)[..., 0]

        # Profiler scopes (no cost unless profiling) that the benchmark
        # tools read back: targets and losses of the code that trains.
        with record_function('polarnext_head/targets'):
            labels, pos = self._batch_targets(points, point_strides,
                                              flat_cls, flat_rays,
                                              batch_gt_instances)
        with record_function('polarnext_head/losses'):
            losses = self._losses(
                flat_cls.flatten(0, 1), labels, flat_quality.flatten(), pos)
        return losses, pos, len(points)

    def _losses(self, cls_logits: Tensor, labels: Tensor, quality: Tensor,
                pos: PositiveTargets) -> Dict[str, Tensor]:
        """Losses from the flattened predictions and the positive targets.

        Args:
            cls_logits (Tensor): (B * P, num_classes).
            labels (Tensor): (B * P, ), ``num_classes`` for background.
            quality (Tensor): Quality logits (B * P, ).
            pos (PositiveTargets): Positives of the whole batch.

        Returns:
            dict[str, Tensor]: The four losses.
        """
        num_pos = cls_logits.new_tensor(float(len(pos)))
        num_pos = max(reduce_mean(num_pos).item(), 1.0)
        # Every process joins the same all-reduces (a batch without positives
        # too), or DDP's collectives get out of step.
        iou = pos.soft_iou() if len(pos) else quality.new_zeros(0)
        loss_cls = self.loss_cls(
            cls_logits, self._cls_targets(labels, iou, pos),
            avg_factor=num_pos)
        reg_weight = (iou if self.loss_weighting == 'iou' else
                      torch.ones_like(iou))
        reg_norm = max(reduce_mean(reg_weight.sum().float()).item(), 1e-6)
        if len(pos) == 0:
            # Zero losses that keep every branch in the graph (DDP needs it).
            zero = pos.pred_rays.sum() * 0 + quality.sum() * 0
            return dict(
                loss_cls=loss_cls,
                loss_polar=zero,
                loss_dice=zero,
                loss_quality=zero)
        loss_polar = self.loss_polar(
            pos.pred_rays,
            pos.target_rays,
            weight=reg_weight,
            avg_factor=reg_norm)
        loss_dice = self.loss_dice(
            pos.soft_masks.flatten(1),
            pos.target_masks.flatten(1),
            weight=reg_weight,
            avg_factor=reg_norm)
        loss_quality = self.loss_quality(
            quality[pos.point_inds].float(), iou, avg_factor=num_pos)
        return dict(
            loss_cls=loss_cls,
            loss_polar=loss_polar,
            loss_dice=loss_dice,
            loss_quality=loss_quality)

    def _cls_targets(self, labels: Tensor, iou: Tensor,
                     pos: PositiveTargets) -> Union[Tensor, Tuple[Tensor,
                                                                  Tensor]]:
        """Targets of the class loss: the labels (B * P, ), or with
        ``cls_target='iou'`` the labels and a score per point (B * P, ), the
        positives' soft IoU and 0 elsewhere."""
        if self.cls_target == 'label':
            return labels
        scores = labels.new_zeros(labels.shape, dtype=torch.float32)
        scores[pos.point_inds] = iou.float()
        return labels, scores

    # --------------------------------------------------------- inference
    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        ray_preds: List[Tensor],
                        quality_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Turn the head outputs into instances.

        Args:
            cls_scores (list[Tensor]): Class logits per level.
            ray_preds (list[Tensor]): Ray lengths per level.
            quality_preds (list[Tensor]): Quality logits per level.
            batch_img_metas (list[dict]): Meta information per image.
            cfg (:obj:`ConfigDict`, optional): Test config; defaults to
                ``self.test_cfg``.
            rescale (bool): Map the results to the original image size.
            with_nms (bool): Apply NMS.

        Returns:
            list[:obj:`InstanceData`]: Per image ``scores`` (n, ),
            ``labels`` (n, ), ``bboxes`` (n, 4) (box of the polygon),
            ``polygons`` (n, num_rays, 2) and, when ``mask_output`` is on,
            ``masks`` (:class:`RLEMasks` at the output resolution).
        """
        cfg = ConfigDict(self.test_cfg if cfg is None else cfg)
        mlvl_points = self._mlvl_points(cls_scores)
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            results.append(
                self._predict_single([s[i] for s in cls_scores],
                                     [r[i] for r in ray_preds],
                                     [q[i] for q in quality_preds],
                                     mlvl_points, img_meta, cfg, rescale,
                                     with_nms))
        return results

    def _mlvl_points(self, cls_scores: List[Tensor]) -> List[Tensor]:
        """Points (P_l, 2) of every level, in input pixels."""
        return self.prior_generator.grid_priors(
            [s.shape[-2:] for s in cls_scores],
            dtype=torch.float32,
            device=cls_scores[0].device)

    def _select_level(self, cls_score: Tensor, rays: Tensor, quality: Tensor,
                      points: Tensor, cfg: ConfigDict) -> Tuple[Tensor, ...]:
        """Score threshold and top-k of one level of one image."""
        scores = cls_score.permute(1, 2, 0).reshape(-1, self.num_classes)
        scores = scores.sigmoid()
        rays = rays.permute(1, 2, 0).reshape(-1, self.num_rays)
        quality = quality.reshape(-1).sigmoid()
        scores, labels, _, kept = filter_scores_and_topk(
            scores, cfg.get('score_thr', 0.05), cfg.get('nms_pre', 1000),
            dict(rays=rays, points=points, quality=quality))
        return scores, labels, kept['rays'], kept['points'], kept['quality']

    def _predict_single(self, cls_scores: List[Tensor],
                        ray_preds: List[Tensor], quality_preds: List[Tensor],
                        mlvl_points: List[Tensor], img_meta: dict,
                        cfg: ConfigDict, rescale: bool,
                        with_nms: bool) -> InstanceData:
        """Instances of one image (see :meth:`predict_by_feat`)."""
        scores, labels, rays, points, quality = self._select_rows(
            cls_scores, ray_preds, quality_preds, mlvl_points, cfg)
        return self._polygon_results(scores * quality, labels, points, rays,
                                     img_meta, cfg, rescale, with_nms)

    def _select_rows(self, cls_scores: List[Tensor], ray_preds: List[Tensor],
                     quality_preds: List[Tensor], mlvl_points: List[Tensor],
                     cfg: ConfigDict) -> Tuple[Tensor, ...]:
        """Rows of one image that pass the score threshold and top-k of
        their level, all levels concatenated: scores (n, ), labels (n, ),
        rays (n, K), points (n, 2) and quality (n, ), in [0, 1]."""
        selected = [
            self._select_level(*level, cfg) for level in zip(
                cls_scores, ray_preds, quality_preds, mlvl_points)
        ]
        return tuple(torch.cat(column) for column in zip(*selected))
