"""What the polar dense heads (PolarNeXt, PolarMask) share: towers, points,
level flattening and turning selected rays into instances."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.ops import batched_nms
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.registry import TASK_UTILS
from mmdet.utils import ConfigType, InstanceList, MultiConfig, OptConfigType
from mmdet_ext.geometry.ray_targets import decode_rays
from mmdet_ext.structures.rle_masks import RLEMasks
from mmdet_ext.task_modules.polar_targets import (PolarTargetBuilder,
                                                  PositiveTargets)

# Defaults shared by the polar heads (as FCOS): focal loss and Normal(0, 0.01)
# convs with a 0.01 class prior; the polar IoU loss of the rays and the BCE of
# a quality (centerness / mask IoU) logit.
FOCAL_LOSS = dict(
    type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
POLAR_IOU_LOSS = dict(type='PolarIoULoss', loss_weight=1.0)
QUALITY_BCE_LOSS = dict(
    type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)
NORMAL_INIT = dict(
    type='Normal',
    layer='Conv2d',
    std=0.01,
    override=dict(type='Normal', name='conv_cls', std=0.01, bias_prob=0.01))


class BasePolarHead(BaseDenseHead):
    """Base of dense heads whose masks are polygons of rays from points.

    Subclasses build their towers with :meth:`_build_tower`, their
    :class:`PolarTargetBuilder` with :meth:`_build_target_builder`, flatten
    their per-level outputs with :meth:`_flatten_levels` and hand the
    selected (point, rays, score, label) rows of an image to
    :meth:`_polygon_results`, which decodes the polygons, rescales them, runs
    class-aware NMS, keeps the top ``max_per_img`` and fills RLE masks when
    ``mask_output`` is on. Subclasses take their own arguments and pass the
    ones below through ``**kwargs`` (as FCOSHead does with AnchorFreeHead).

    Args:
        num_classes (int): Number of categories (background excluded).
        in_channels (int): Channels of the input feature maps.
        feat_channels (int): Channels of the towers. Defaults to 256.
        stacked_convs (int): Convs per tower. Defaults to 4.
        strides (Sequence[int]): Strides of the input levels. Defaults to
            (8, 16, 32, 64, 128), P3-P7.
        num_rays (int): Rays per location. Defaults to 36.
        conv_cfg (:obj:`ConfigDict` or dict, optional): Conv config.
        norm_cfg (:obj:`ConfigDict` or dict): Tower norm config. Defaults to
            GN with 32 groups.
        train_cfg (:obj:`ConfigDict` or dict, optional): Unused by the polar
            heads (their training options are in ``target_builder``); kept
            for the MMDetection interface.
        test_cfg (:obj:`ConfigDict` or dict, optional): ``score_thr``,
            ``nms_pre``, ``nms``, ``max_per_img``, ``mask_output`` and the
            head's own keys.
        init_cfg (:obj:`ConfigDict` or dict or list): Initialisation.
            Defaults to Normal(0, 0.01) convs with a 0.01 class prior, as
            FCOS.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 feat_channels: int = 256,
                 stacked_convs: int = 4,
                 strides: Tuple[int, ...] = (8, 16, 32, 64, 128),
                 num_rays: int = 36,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: MultiConfig = NORMAL_INIT) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes
        self.cls_out_channels = num_classes
        self.use_sigmoid_cls = True
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.stacked_convs = stacked_convs
        self.strides = tuple(strides)
        self.num_rays = num_rays
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.prior_generator = TASK_UTILS.build(
            dict(type='MlvlPointGenerator', strides=self.strides, offset=0.5))

    #: Predictor names of the official checkpoints mapped onto ours (prefixes
    #: of the head's state-dict keys), see :meth:`_load_from_state_dict`.
    OFFICIAL_KEYS: Dict[str, str] = {}

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              local_metadata: dict, strict: bool,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        """Load our checkpoints and the official ones: keys named as in
        :attr:`OFFICIAL_KEYS` are renamed and converted
        (:meth:`_convert_official`) first, as MMDetection's heads do for the
        checkpoints of their earlier versions."""
        renamed = []
        for key in [k for k in state_dict if k.startswith(prefix)]:
            name = key[len(prefix):]
            for official, ours in self.OFFICIAL_KEYS.items():
                if name.startswith(official):
                    new_key = prefix + ours + name[len(official):]
                    state_dict[new_key] = state_dict.pop(key)
                    renamed.append(new_key)
                    break
        if renamed:
            self._convert_official(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _convert_official(self, state_dict: dict, prefix: str) -> None:
        """Convert official weights already renamed to our keys (in place);
        nothing to do unless the official layout differs."""

    #: Options of :class:`PolarTargetBuilder` that the head sets itself.
    DERIVED_TARGET_OPTIONS = ('num_classes', 'num_rays')

    def _build_target_builder(self, target_builder: ConfigType,
                              loss_cls: ConfigType,
                              **derived) -> PolarTargetBuilder:
        """The head's :class:`PolarTargetBuilder`.

        The config's options (``target_builder``) come with what the head
        derives: ``num_classes`` and ``num_rays`` of the head, the matcher's
        default cost weights (the loss weights of ``self.loss_cls``,
        ``self.loss_polar`` and ``self.loss_dice``, 1 without a Dice loss)
        and focal parameters (``loss_cls``'s), and the subclass's
        ``derived`` options. Build the losses first.

        Args:
            target_builder (:obj:`ConfigDict` or dict): Options from the
                config.
            loss_cls (:obj:`ConfigDict` or dict): Config of the class loss.
            **derived: Options the subclass derives from its own arguments.

        Returns:
            :obj:`PolarTargetBuilder`: The target builder.
        """
        fixed = set(target_builder) & set(self.DERIVED_TARGET_OPTIONS)
        if fixed:
            raise ValueError(f'target_builder sets {sorted(fixed)}: they '
                             'are arguments of the head')
        loss_dice = getattr(self, 'loss_dice', None)
        cfg = dict(
            cost_weights=(self.loss_cls.loss_weight,
                          self.loss_polar.loss_weight,
                          1.0 if loss_dice is None else loss_dice.loss_weight),
            focal_alpha=loss_cls.get('alpha', 0.25),
            focal_gamma=loss_cls.get('gamma', 2.0))
        cfg.update(target_builder)
        cfg.update(num_classes=self.num_classes, num_rays=self.num_rays)
        cfg.update(derived)
        return PolarTargetBuilder(**cfg)

    def _build_tower(self, num_convs: Optional[int] = None) -> nn.Sequential:
        """``num_convs`` (default ``stacked_convs``) 3x3 conv-norm-ReLU
        layers; none is the identity."""
        layers = []
        num_convs = self.stacked_convs if num_convs is None else num_convs
        for i in range(num_convs):
            layers.append(
                ConvModule(
                    self.in_channels if i == 0 else self.feat_channels,
                    self.feat_channels,
                    3,
                    stride=1,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    bias=self.norm_cfg is None))
        return nn.Sequential(*layers)

    def _points(self, featmap_sizes: List[torch.Size],
                device: torch.device) -> Tuple[Tensor, Tensor]:
        """All points (P, 2) of all levels and their strides (P, )."""
        mlvl_points = self.prior_generator.grid_priors(
            featmap_sizes, dtype=torch.float32, device=device)
        strides = [
            points.new_full((len(points), ), stride)
            for points, stride in zip(mlvl_points, self.strides)
        ]
        return torch.cat(mlvl_points), torch.cat(strides)

    @staticmethod
    def _flatten_levels(mlvl: List[Tensor]) -> Tensor:
        """(B, C, H_l, W_l) per level -> (B, P, C)."""
        return torch.cat(
            [x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])
             for x in mlvl],
            dim=1)

    def _batch_targets(self, points: Tensor, strides: Tensor,
                       flat_cls: Tensor, flat_rays: Tensor,
                       batch_gt_instances: InstanceList
                       ) -> Tuple[Tensor, PositiveTargets]:
        """Targets of a batch through ``self.target_builder``.

        Args:
            points (Tensor): All points (P, 2).
            strides (Tensor): Stride of each point (P, ).
            flat_cls (Tensor): Class logits (B, P, num_classes).
            flat_rays (Tensor): Predicted rays (B, P, K), with gradient.
            batch_gt_instances (list[:obj:`InstanceData`]): GT per image.

        Returns:
            tuple: Class targets (B * P, ) and the positives of the batch,
            whose point indices index the flattened (B * P) points.
        """
        labels, positives = [], []
        for i, gt_instances in enumerate(batch_gt_instances):
            img_labels, img_pos = self.target_builder.build(
                points, strides, flat_cls[i].detach(), flat_rays[i],
                gt_instances)
            labels.append(img_labels)
            positives.append(img_pos.offset_points(i * len(points)))
        return torch.cat(labels), PositiveTargets.cat(positives)

    def _polygon_results(self,
                         scores: Tensor,
                         labels: Tensor,
                         points: Tensor,
                         rays: Tensor,
                         img_meta: dict,
                         cfg: ConfigDict,
                         rescale: bool,
                         with_nms: bool,
                         nms_bboxes: Optional[Tensor] = None
                         ) -> InstanceData:
        """Instances of one image from its selected rows.

        Args:
            scores (Tensor): Final scores (n, ).
            labels (Tensor): Class indices (n, ).
            points (Tensor): Ray origins in the input image (n, 2).
            rays (Tensor): Ray lengths in input pixels (n, K).
            img_meta (dict): Meta information of the image.
            cfg (:obj:`ConfigDict`): Test config.
            rescale (bool): Map the results to the original image size.
            with_nms (bool): Apply NMS.
            nms_bboxes (Tensor, optional): Boxes (n, 4) in the input image
                for NMS and ``bboxes`` (e.g. a box branch); defaults to the
                boxes of the polygons.

        Returns:
            :obj:`InstanceData`: ``scores`` (m, ), ``labels`` (m, ),
            ``bboxes`` (m, 4), ``polygons`` (m, K, 2), ``origins`` (m, 2) and,
            with ``mask_output``, ``masks`` (:class:`RLEMasks`).
        """
        polygons = decode_rays(points, rays.float(), img_meta['img_shape'])
        origins = points.float()
        bboxes = (
            torch.cat([polygons.min(dim=1).values,
                       polygons.max(dim=1).values],
                      dim=1) if nms_bboxes is None else nms_bboxes.float())
        out_shape = img_meta['img_shape'][:2]
        if rescale:
            scale = polygons.new_tensor(img_meta['scale_factor'][:2])
            polygons = polygons / scale
            origins = origins / scale
            bboxes = bboxes / scale.repeat(2)
            out_shape = img_meta['ori_shape'][:2]
        results = InstanceData(
            scores=scores,
            labels=labels,
            bboxes=bboxes,
            polygons=polygons,
            origins=origins)
        if with_nms and len(results) > 0:
            det_bboxes, keep = batched_nms(results.bboxes, results.scores,
                                           results.labels, cfg.nms)
            results = results[keep]
            results.scores = det_bboxes[:, -1]
        else:
            results = results[results.scores.argsort(descending=True)]
        results = results[:cfg.get('max_per_img', 100)]
        if cfg.get('mask_output', True):
            results.masks = RLEMasks.from_polygons(results.polygons,
                                                   *out_shape)
        return results
