"""PolarMask head: FCOS towers predicting classes, boxes, 36 rays and
polar centerness."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import Scale
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.utils import multi_apply
from mmdet.registry import MODELS
from mmdet.structures.bbox import distance2bbox
from mmdet.utils import (ConfigType, InstanceList, OptConfigType,
                         OptInstanceList, reduce_mean)
from mmdet_ext.models.dense_heads.base_polar_head import (
    FOCAL_LOSS, POLAR_IOU_LOSS, QUALITY_BCE_LOSS, BasePolarHead)
from mmdet_ext.task_modules import PositiveTargets
from mmdet_ext.utils.config_utils import check_choice

INF = 1e8
# exp() of a larger logit exceeds any image (e^16 ~ 9e6 px); capping it keeps
# a diverging run finite instead of producing inf and then NaN.
MAX_LOG_DISTANCE = 16.0
QUALITY_TARGETS = ('centerness', 'mask_iou')
QUALITY_TOWERS = ('cls', 'mask')
# PolarMask's target assignment (official code; peers.md A.2): centre sampling
# of 1.5 strides around the int-truncated area centroid of the largest part,
# rays (farthest crossing, 1e-6 for a miss) and mask crops from the largest
# part, no candidate for an object without one, FCOS's smallest-object-wins
# matcher. The base config spells them out; options a config leaves out of
# ``target_builder`` keep these values.
POLARMASK_TARGETS = dict(
    sampling_radius=1.5,
    ray_origin='int_centroid',
    ray_target_parts='largest',
    mask_target_parts='largest',
    fallback_candidate=False,
    ray_coder=dict(type='PolarRayCoder', mode='farthest', miss_value=1e-6),
    matcher=dict(type='MinAreaMatcher'))


@MODELS.register_module()
class PolarMaskHead(BasePolarHead):
    """Head of `PolarMask <https://arxiv.org/abs/1909.13226>`_.

    Three towers of ``stacked_convs`` conv-GN-ReLU layers: the class tower
    feeds the class logits and the polar centerness, the box tower the FCOS
    box (l, t, r, b) and the mask tower ``num_rays`` ray lengths. Boxes and
    rays are ``exp(Scale_l(conv))`` in input pixels with one learnable scale
    per level and branch, as in the official code. Ray k leaves the location
    at angle ``2 pi k / K`` from +x towards +y (the polar core's convention;
    the official code measures angles from +y, a fixed permutation of the
    same rays).

    Training (:class:`PolarTargetBuilder` with :class:`MinAreaMatcher`): a
    location is positive for an object when it lies within ``1.5 * stride``
    of the object's mass centre (the area centroid of its largest part,
    truncated to int as the official code),
    inside its box, and the max box distance falls in the level's regress
    range; a location claimed by several objects goes to the smallest.
    Losses: focal (average factor #pos + #images), polar IoU and IoU box
    loss weighted by the polar centerness target sqrt(min d / max d), BCE
    centerness.

    Inference: top ``nms_pre`` per level by ``max_c(cls * centerness)``,
    ``score_thr`` on the class score, score ``cls * (centerness +
    quality_offset)`` (0.5, official), class-aware NMS on the box-branch
    boxes (or on the polygon boxes with ``mask_nms=True`` or without a box
    branch), top ``max_per_img``.

    The pieces PolarNeXt changed can be switched one at a time (the
    ablation ladder in ``projects/PolarMask/configs/ablations``): the matcher
    (``target_builder.matcher``), a Dice loss on the soft-rasterised polygon
    (``loss_dice``), and the quality branch (``quality_target='mask_iou'``,
    ``quality_tower='mask'``).

    Args:
        num_classes (int): Number of categories (background excluded).
        in_channels (int): Channels of the input feature maps.
        regress_ranges (Sequence[tuple[float, float]]): Max box distance
            range of each level (official FCOS ranges).
        with_box_branch (bool): Predict and train the FCOS box (the official
            code does; the paper leaves it out). Defaults to True.
        quality_target (str): ``'centerness'`` (polar centerness, official)
            or ``'mask_iou'`` (the soft mask IoU of PolarNeXt). The target
            also weights the ray, box and Dice losses.
        quality_tower (str): Tower of the quality logit: ``'cls'`` (official)
            or ``'mask'`` (PolarNeXt's regression tower).
        norm_on_stride (bool): Predict rays and boxes in units of the
            level's stride, ``exp(Scale_l(conv)) * stride`` (as FCOS's
            ``norm_on_bbox``), so every ray starts at one stride instead of
            one pixel. Defaults to False (official: input pixels).
        target_builder (:obj:`ConfigDict` or dict): Options of
            :class:`PolarTargetBuilder`; the options it leaves out take
            PolarMask's official values, :data:`POLARMASK_TARGETS` (which
            the base config spells out). ``regress_ranges`` defaults to the
            head's; ``num_classes``, ``num_rays``, ``with_masks`` (a Dice
            loss or a mask-IoU quality target) and the matcher's cost
            weights and focal parameters come from the head and its losses.
        loss_cls (:obj:`ConfigDict` or dict): Classification loss.
        loss_bbox (:obj:`ConfigDict` or dict): Box loss (box branch only).
        loss_polar (:obj:`ConfigDict` or dict): Ray loss (polar IoU).
        loss_centerness (:obj:`ConfigDict` or dict): Quality loss.
        loss_dice (:obj:`ConfigDict` or dict, optional): Dice loss on the
            soft-rasterised polygons; None (official) leaves it out.
        **kwargs: ``feat_channels``, ``stacked_convs``, ``strides``,
            ``num_rays``, ``conv_cfg``, ``norm_cfg``, ``train_cfg``,
            ``test_cfg`` and ``init_cfg`` of :class:`BasePolarHead`.
            ``test_cfg`` also takes ``mask_nms`` and ``quality_offset``.
    """

    #: ``with_masks`` follows the losses and the quality target.
    DERIVED_TARGET_OPTIONS = BasePolarHead.DERIVED_TARGET_OPTIONS + (
        'with_masks', )

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 regress_ranges: Tuple[Tuple[float, float], ...] = (
                     (-1, 64), (64, 128), (128, 256), (256, 512), (512,
                                                                   INF)),
                 with_box_branch: bool = True,
                 quality_target: str = 'centerness',
                 quality_tower: str = 'cls',
                 norm_on_stride: bool = False,
                 target_builder: ConfigType = POLARMASK_TARGETS,
                 loss_cls: ConfigType = FOCAL_LOSS,
                 loss_bbox: ConfigType = dict(type='IoULoss', loss_weight=1.0),
                 loss_polar: ConfigType = POLAR_IOU_LOSS,
                 loss_centerness: ConfigType = QUALITY_BCE_LOSS,
                 loss_dice: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes, in_channels=in_channels, **kwargs)
        check_choice('quality_target', quality_target, QUALITY_TARGETS)
        check_choice('quality_tower', quality_tower, QUALITY_TOWERS)
        if len(regress_ranges) != len(self.strides):
            raise ValueError(f'{len(self.strides)} strides but '
                             f'{len(regress_ranges)} regress_ranges')
        self.with_box_branch = with_box_branch
        self.quality_target = quality_target
        self.quality_tower = quality_tower
        self.norm_on_stride = norm_on_stride
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox) if with_box_branch else None
        self.loss_polar = MODELS.build(loss_polar)
        self.loss_centerness = MODELS.build(loss_centerness)
        self.loss_dice = None if loss_dice is None else MODELS.build(
            loss_dice)
        targets = dict(POLARMASK_TARGETS, regress_ranges=regress_ranges)
        targets.update(target_builder)
        self.target_builder = self._build_target_builder(
            targets,
            loss_cls,
            with_masks=(loss_dice is not None
                        or quality_target == 'mask_iou'))
        self._init_layers()

    # Official checkpoints (xieenze/PolarMask, mmdet 1.x): the predictors are
    # named polar_*, the ray scales scales_mask; towers and box scales match.
    OFFICIAL_KEYS = {
        'polar_cls.': 'conv_cls.',
        'polar_reg.': 'conv_reg.',
        'polar_mask.': 'conv_rays.',
        'polar_centerness.': 'conv_centerness.',
        'scales_mask.': 'scales_rays.',
    }

    def _convert_official(self, state_dict: dict, prefix: str) -> None:
        """Reorder the official ray channels: their ray k points at
        (sin, cos)(2 pi k / K), ours j at (cos, sin)(2 pi j / K), so ours j is
        theirs (K / 4 - j) mod K."""
        num_rays = self.num_rays
        if num_rays % 4:
            raise ValueError('official PolarMask weights need num_rays '
                             f'divisible by 4, got {num_rays}')
        order = [(num_rays // 4 - j) % num_rays for j in range(num_rays)]
        for name in ('weight', 'bias'):
            key = f'{prefix}conv_rays.{name}'
            if key in state_dict:
                state_dict[key] = state_dict[key][order]

    # ------------------------------------------------------------ layers
    def _init_layers(self) -> None:
        """Three towers, four predictors and per-level scales."""
        self.cls_convs = self._build_tower()
        self.mask_convs = self._build_tower()
        self.conv_cls = nn.Conv2d(
            self.feat_channels, self.num_classes, 3, padding=1)
        self.conv_centerness = nn.Conv2d(self.feat_channels, 1, 3, padding=1)
        self.conv_rays = nn.Conv2d(
            self.feat_channels, self.num_rays, 3, padding=1)
        self.scales_rays = nn.ModuleList([Scale(1.0) for _ in self.strides])
        if self.with_box_branch:
            self.reg_convs = self._build_tower()
            self.conv_reg = nn.Conv2d(self.feat_channels, 4, 3, padding=1)
            self.scales_bbox = nn.ModuleList(
                [Scale(1.0) for _ in self.strides])

    # ----------------------------------------------------------- forward
    def forward(
        self, x: Tuple[Tensor, ...]
    ) -> Tuple[List[Tensor], List[Optional[Tensor]], List[Tensor],
               List[Tensor]]:
        """Forward all levels.

        Args:
            x (tuple[Tensor]): Features of each level, (B, C, H_l, W_l).

        Returns:
            tuple: Per level, class logits (B, num_classes, H_l, W_l), box
            distances (B, 4, H_l, W_l) in input pixels (None without a box
            branch), ray lengths (B, num_rays, H_l, W_l) in input pixels and
            quality (centerness) logits (B, 1, H_l, W_l). Distances are
            float32 even under autocast: they feed the geometry.
        """
        return multi_apply(self.forward_single, x, range(len(x)))

    def distance_unit(self, level: int) -> int:
        """Input pixels per unit of the rays and boxes that ``level``
        predicts as ``exp(Scale_l(conv))``: its stride with
        ``norm_on_stride``, else 1."""
        return self.strides[level] if self.norm_on_stride else 1

    def forward_single(
            self, x: Tensor,
            level: int) -> Tuple[Tensor, Optional[Tensor], Tensor, Tensor]:
        """Forward one level (see :meth:`forward`)."""
        cls_feat = self.cls_convs(x)
        mask_feat = self.mask_convs(x)
        cls_score = self.conv_cls(cls_feat)
        quality_feat = cls_feat if self.quality_tower == 'cls' else mask_feat
        quality = self.conv_centerness(quality_feat)
        unit = self.distance_unit(level)
        rays = _exp_distance(
            self.scales_rays[level](self.conv_rays(mask_feat))) * unit
        bbox_pred = None
        if self.with_box_branch:
            bbox_pred = _exp_distance(self.scales_bbox[level](self.conv_reg(
                self.reg_convs(x)))) * unit
        return cls_score, bbox_pred, rays, quality

    # -------------------------------------------------------------- loss
    def loss_by_feat(
        self,
        cls_scores: List[Tensor],
        bbox_preds: List[Optional[Tensor]],
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
            bbox_preds (list[Tensor | None]): Box distances per level,
                (B, 4, H_l, W_l), or None without a box branch.
            ray_preds (list[Tensor]): Ray lengths per level,
                (B, num_rays, H_l, W_l).
            quality_preds (list[Tensor]): Quality logits per level,
                (B, 1, H_l, W_l).
            batch_gt_instances (list[:obj:`InstanceData`]): GT per image with
                ``labels`` and polygon (or bitmap) ``masks``.
            batch_img_metas (list[dict]): Meta information per image.
            batch_gt_instances_ignore (list[:obj:`InstanceData`], optional):
                Crowd instances; like the official model (``with_crowd=
                False``), their regions are background.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_polar``,
            ``loss_centerness`` and, when enabled, ``loss_bbox`` and
            ``loss_dice``.
        """
        device = cls_scores[0].device
        points, point_strides = self._points(
            [s.shape[-2:] for s in cls_scores], device)
        flat_cls = self._flatten_levels(cls_scores)
        flat_rays = self._flatten_levels(ray_preds)
        labels, pos = self._batch_targets(points, point_strides, flat_cls,
                                          flat_rays, batch_gt_instances)
        flat_bbox = (
            self._flatten_levels(bbox_preds).flatten(0, 1)
            if self.with_box_branch else None)
        return self._losses(
            flat_cls.flatten(0, 1), labels,
            self._flatten_levels(quality_preds).flatten(), flat_bbox, pos,
            len(batch_gt_instances))

    def _quality_targets(self, pos: PositiveTargets) -> Tensor:
        """Quality target, also the weight of the geometric losses (S, )."""
        if self.quality_target == 'centerness':
            return pos.polar_centerness()
        return pos.soft_iou()

    def _losses(self, cls_logits: Tensor, labels: Tensor, quality: Tensor,
                bbox_preds: Optional[Tensor], pos: PositiveTargets,
                num_imgs: int) -> Dict[str, Tensor]:
        """Losses from the flattened predictions and the positive targets.

        Args:
            cls_logits (Tensor): (B * P, num_classes).
            labels (Tensor): (B * P, ), ``num_classes`` for background.
            quality (Tensor): Quality logits (B * P, ).
            bbox_preds (Tensor, optional): Box distances (B * P, 4).
            pos (PositiveTargets): Positives of the whole batch.
            num_imgs (int): Images in the batch.

        Returns:
            dict[str, Tensor]: The losses.
        """
        num_pos = reduce_mean(cls_logits.new_tensor(float(len(pos)))).item()
        # Official normaliser of the focal loss: #positives + #images.
        loss_cls = self.loss_cls(
            cls_logits, labels, avg_factor=num_pos + num_imgs)
        # Every process joins the same all-reduces (a batch without positives
        # too), or DDP's collectives get out of step.
        target = (
            self._quality_targets(pos) if len(pos) else quality.new_zeros(0))
        norm = max(reduce_mean(target.sum().float()).item(), 1e-6)
        if len(pos) == 0:
            # Zero losses that keep every branch in the graph (DDP needs it).
            zero = pos.pred_rays.sum() * 0 + quality.sum() * 0
            if bbox_preds is not None:
                zero = zero + bbox_preds.sum() * 0
            losses = dict(loss_polar=zero, loss_centerness=zero)
            if self.with_box_branch:
                losses['loss_bbox'] = zero
            if self.loss_dice is not None:
                losses['loss_dice'] = zero
            return dict(loss_cls=loss_cls, **losses)

        losses = dict(
            loss_cls=loss_cls,
            loss_polar=self.loss_polar(
                pos.pred_rays, pos.target_rays, weight=target,
                avg_factor=norm),
            loss_centerness=self.loss_centerness(
                quality[pos.point_inds].float(), target,
                avg_factor=max(num_pos, 1.0)))
        if self.with_box_branch:
            pred_boxes = distance2bbox(pos.points,
                                       bbox_preds[pos.point_inds])
            losses['loss_bbox'] = self.loss_bbox(
                pred_boxes, pos.gt_boxes, weight=target, avg_factor=norm)
        if self.loss_dice is not None:
            losses['loss_dice'] = self.loss_dice(
                pos.soft_masks.flatten(1),
                pos.target_masks.flatten(1),
                weight=target,
                avg_factor=norm)
        return losses

    # --------------------------------------------------------- inference
    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Optional[Tensor]],
                        ray_preds: List[Tensor],
                        quality_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Turn the head outputs into instances.

        Args:
            cls_scores (list[Tensor]): Class logits per level.
            bbox_preds (list[Tensor | None]): Box distances per level.
            ray_preds (list[Tensor]): Ray lengths per level.
            quality_preds (list[Tensor]): Quality logits per level.
            batch_img_metas (list[dict]): Meta information per image.
            cfg (:obj:`ConfigDict`, optional): Test config; defaults to
                ``self.test_cfg``.
            rescale (bool): Map the results to the original image size.
            with_nms (bool): Apply NMS.

        Returns:
            list[:obj:`InstanceData`]: Per image ``scores`` (n, ),
            ``labels`` (n, ), ``bboxes`` (n, 4), ``polygons``
            (n, num_rays, 2), ``origins`` (n, 2) and, when ``mask_output``
            is on, ``masks`` (:class:`RLEMasks` at the output resolution).
        """
        cfg = ConfigDict(self.test_cfg if cfg is None else cfg)
        mlvl_points = self.prior_generator.grid_priors(
            [s.shape[-2:] for s in cls_scores],
            dtype=torch.float32,
            device=cls_scores[0].device)
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            levels = [
                self._select_level(cls_scores[lvl][i],
                                   _item(bbox_preds[lvl], i),
                                   ray_preds[lvl][i], quality_preds[lvl][i],
                                   mlvl_points[lvl], cfg)
                for lvl in range(len(cls_scores))
            ]
            results.append(
                self._predict_single(levels, img_meta, cfg, rescale,
                                     with_nms))
        return results

    def _select_level(self, cls_score: Tensor, bbox_pred: Optional[Tensor],
                      rays: Tensor, quality: Tensor, points: Tensor,
                      cfg: ConfigDict) -> Dict[str, Tensor]:
        """Top ``nms_pre`` locations of one level by max(cls * quality)."""
        rows = dict(
            scores=cls_score.permute(1, 2, 0).reshape(
                -1, self.num_classes).sigmoid(),
            quality=quality.reshape(-1).sigmoid(),
            rays=rays.permute(1, 2, 0).reshape(-1, self.num_rays),
            points=points)
        if bbox_pred is not None:
            rows['bboxes'] = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
        nms_pre = cfg.get('nms_pre', -1)
        if 0 < nms_pre < len(points):
            ranking = (rows['scores'] * rows['quality'][:, None]).max(1)[0]
            keep = ranking.topk(nms_pre).indices
            rows = {key: value[keep] for key, value in rows.items()}
        return rows

    def _predict_single(self, levels: List[Dict[str, Tensor]],
                        img_meta: dict, cfg: ConfigDict, rescale: bool,
                        with_nms: bool) -> InstanceData:
        """Instances of one image from its selected locations."""
        rows = {key: torch.cat([lvl[key] for lvl in levels])
                for key in levels[0]}
        # Official order: threshold on the class score, then fuse quality.
        row_inds, labels = (rows['scores'] >
                            cfg.get('score_thr', 0.05)).nonzero(as_tuple=True)
        scores = rows['scores'][row_inds, labels] * (
            rows['quality'][row_inds] + cfg.get('quality_offset', 0.5))
        points = rows['points'][row_inds]
        nms_bboxes = None
        if 'bboxes' in rows and not cfg.get('mask_nms', False):
            nms_bboxes = distance2bbox(points, rows['bboxes'][row_inds],
                                       img_meta['img_shape'])
        return self._polygon_results(scores, labels, points,
                                     rows['rays'][row_inds], img_meta, cfg,
                                     rescale, with_nms, nms_bboxes)


def _exp_distance(logits: Tensor) -> Tensor:
    """exp of the (capped) logits in float32: positive distances."""
    return logits.float().clamp(max=MAX_LOG_DISTANCE).exp()


def _item(mlvl_or_none: Optional[Tensor], index: int) -> Optional[Tensor]:
    return None if mlvl_or_none is None else mlvl_or_none[index]
