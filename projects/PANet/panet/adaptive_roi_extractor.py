"""PANet's adaptive feature pooling (AFP): every RoI is pooled from every
FPN level, each level's grid goes through its own first head layer, and the
levels are fused element-wise (design notes B.1, B.2 "AFP")."""
from typing import List, Optional, Tuple

import torch
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import ModuleList, xavier_init
from torch import Tensor, nn

from mmdet.models.roi_heads.roi_extractors import BaseRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

FUSIONS = ('max', 'sum')
LEVEL_LAYERS = ('conv', 'fc')


class LevelFC(nn.Module):
    """A fully connected first layer for one level: flatten, fc, optional
    norm, activation (the first fc of PANet's 2-fc box head).

    Args:
        in_features (int): ``C * S * S`` of the pooled grid.
        out_channels (int): Output width.
        norm_cfg (dict, optional): Norm layer on the ``(R, out)`` output
            (e.g. GN); None for none.
        act_cfg (dict, optional): Activation; None for none.
    """

    def __init__(self, in_features: int, out_channels: int,
                 norm_cfg: OptConfigType, act_cfg: OptConfigType) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_channels, bias=norm_cfg is None)
        self.norm = (build_norm_layer(norm_cfg, out_channels)[1]
                     if norm_cfg is not None else nn.Identity())
        self.act = (build_activation_layer(act_cfg)
                    if act_cfg is not None else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        """(R, C, S, S) -> (R, out, 1, 1)."""
        x = self.act(self.norm(self.fc(x.flatten(1))))
        return x[:, :, None, None]


@MODELS.register_module()
class AdaptiveFeaturePoolingRoIExtractor(BaseRoIExtractor):
    """Adaptive feature pooling RoI extractor (PANet, CVPR 2018).

    Unlike :class:`~mmdet.models.roi_heads.SingleRoIExtractor`, which pools
    each RoI from the one level its size maps to, every RoI is pooled from
    **every** level (with that level's stride, no level assignment). Each
    level's grid then goes through its **own** first layer (separate
    weights per level: the official ``mask_conv1`` / ``conv1_head``, the
    first fc of the 2-fc head), and the levels are fused element-wise by
    max (official) or sum. The head that follows starts at its second
    layer: for PANet's 4-conv + 1-fc box head it is a
    :class:`~mmdet.models.roi_heads.ConvFCBBoxHead` with 3 convs + 1 fc,
    for its mask head an FCN with conv2-conv4.

    The input width (FPN channels, ``out_channels`` as in mmdet's
    extractors) and the layer width (``level_out_channels``) are separate,
    so the FPN and the head need not have the same width (the official
    code silently requires both to be 256).

    Args:
        roi_layer (dict): RoI op config, e.g.
            ``dict(type='RoIAlign', output_size=7, sampling_ratio=2)``.
        out_channels (int): Channels of the pooled FPN features.
        featmap_strides (list[int]): Strides of the pooled levels.
        level_layer (str): ``'conv'`` (``kernel_size`` conv + norm + act,
            output ``(R, level_out_channels, S, S)``) or ``'fc'`` (flatten,
            fc + norm + act, output ``(R, level_out_channels, 1, 1)``).
            Defaults to 'conv'.
        level_out_channels (int): Width of the per-level layers and of the
            output. Defaults to 256.
        kernel_size (int): Kernel of the conv layers. Defaults to 3.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict, optional): Norm layer config (PANet: GN 32 groups).
        act_cfg (dict, optional): Activation. Defaults to ReLU.
        fusion (str): ``'max'`` (official) or ``'sum'``. Defaults to 'max'.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 roi_layer: ConfigType,
                 out_channels: int,
                 featmap_strides: List[int],
                 level_layer: str = 'conv',
                 level_out_channels: int = 256,
                 kernel_size: int = 3,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 fusion: str = 'max',
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            roi_layer=roi_layer,
            out_channels=out_channels,
            featmap_strides=featmap_strides,
            init_cfg=init_cfg)
        if fusion not in FUSIONS:
            raise ValueError(f'fusion must be one of {FUSIONS}, got '
                             f'{fusion!r}')
        if level_layer not in LEVEL_LAYERS:
            raise ValueError(f'level_layer must be one of {LEVEL_LAYERS}, '
                             f'got {level_layer!r}')
        self.fusion = fusion
        self.level_layer_type = level_layer
        self.level_out_channels = level_out_channels
        # one independent module per level: never the same object repeated
        # (the Detectron2 port's defect, design notes B.6.8)
        self.level_layers = ModuleList(
            self._build_level_layer(kernel_size, conv_cfg, norm_cfg, act_cfg)
            for _ in featmap_strides)

    @property
    def output_size(self) -> Tuple[int, int]:
        """(S, S) of the RoI op."""
        return tuple(self.roi_layers[0].output_size)

    def _build_level_layer(self, kernel_size: int, conv_cfg: OptConfigType,
                           norm_cfg: OptConfigType,
                           act_cfg: OptConfigType) -> nn.Module:
        """One level's first layer (conv or fc), fresh weights."""
        if self.level_layer_type == 'conv':
            return ConvModule(
                self.out_channels,
                self.level_out_channels,
                kernel_size,
                padding=(kernel_size - 1) // 2,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
        height, width = self.output_size
        return LevelFC(self.out_channels * height * width,
                       self.level_out_channels, norm_cfg, act_cfg)

    def init_weights(self) -> None:
        """ConvModule's own (Kaiming) init for convs; Xavier-uniform fcs as
        mmdet's fc box heads (the official box-head fc init)."""
        super().init_weights()
        if self.level_layer_type == 'fc' and not self.init_cfg:
            for layer in self.level_layers:
                xavier_init(layer.fc, distribution='uniform')

    def pool_levels(self, feats: Tuple[Tensor], rois: Tensor) -> List[Tensor]:
        """RoIAlign every RoI on every level.

        The RoI op runs in float32 (mmcv's CPU kernels take no bfloat16;
        under autocast the features arrive in bf16).

        Args:
            feats (tuple[Tensor]): Levels, each (B, C, H_l, W_l).
            rois (Tensor): (R, 5) RoIs ``[batch_ind, x1, y1, x2, y2]``.

        Returns:
            list[Tensor]: One (R, C, S, S) grid per level.
        """
        rois = rois.float()
        return [
            roi_layer(feat.float(), rois)
            for roi_layer, feat in zip(self.roi_layers, feats)
        ]

    def fuse(self, level_feats: List[Tensor]) -> Tensor:
        """Element-wise max or sum over levels.

        Args:
            level_feats (list[Tensor]): Per-level (R, C', S', S') features.

        Returns:
            Tensor: (R, C', S', S').
        """
        stacked = torch.stack(level_feats)
        if self.fusion == 'max':
            return stacked.amax(dim=0)
        return stacked.sum(dim=0)

    def forward(self,
                feats: Tuple[Tensor],
                rois: Tensor,
                roi_scale_factor: Optional[float] = None) -> Tensor:
        """Pool from all levels, apply each level's layer, fuse.

        Args:
            feats (tuple[Tensor]): FPN levels (at least ``num_inputs``),
                each (B, C, H_l, W_l).
            rois (Tensor): (R, 5) RoIs; R may be 0.
            roi_scale_factor (float, optional): Rescale the RoIs about
                their centres first.

        Returns:
            Tensor: (R, level_out_channels, S, S) for ``'conv'``,
            (R, level_out_channels, 1, 1) for ``'fc'``.
        """
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        pooled = self.pool_levels(feats[:self.num_inputs], rois)
        transformed = [
            layer(grid) for layer, grid in zip(self.level_layers, pooled)
        ]
        return self.fuse(transformed)
