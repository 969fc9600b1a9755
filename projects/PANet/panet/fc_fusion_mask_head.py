"""PANet's mask head with fully-connected fusion (FF): a class-agnostic
fc mask, branched from conv3, added to every class's FCN logits (design
notes B.1, B.2 "Mask head")."""
from typing import Tuple

from mmcv.cnn import ConvModule
from mmengine.model import ModuleList
from torch import Tensor, nn

from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS


@MODELS.register_module()
class FullyConnectedFusionMaskHead(FCNMaskHead):
    """FCN mask head with PANet's fully-connected fusion branch.

    FCN path (as :class:`~mmdet.models.roi_heads.FCNMaskHead`): the head's
    convs, upsampling (deconv + ReLU), 1x1 conv to per-class logits
    (R, K, M, M), M = ``roi_feat_size * scale_factor``. Fusion branch from
    the output of conv number ``fusion_from_conv``: ``num_fusion_convs``
    convs (norm and act as the head's; the last halves the channels),
    flatten, fc to ``M * M``, optionally ReLU, reshaped to (R, 1, M, M) and
    added to every class channel. Training (one BCE on the GT class's
    channel) and inference are unchanged, so the fc branch gets gradient
    from every positive RoI whatever its class.

    In PANet the first mask conv is per level, in
    :class:`AdaptiveFeaturePoolingRoIExtractor`; this head then has 3 convs
    (PANet's conv2-conv4) and ``fusion_from_conv=2`` taps PANet's conv3.
    Without adaptive pooling (4 convs here) the same tap is 3.

    Args:
        fusion_from_conv (int): 1-based index of the head's conv whose
            output feeds the branch; 0 taps the head's input. Defaults to
            2 (PANet's conv3 after an adaptive-pooling extractor).
        num_fusion_convs (int): Convs of the branch (official 2:
            ``conv4_fc``, ``conv5_fc``). Defaults to 2.
        fusion_fc_relu (bool): ReLU after the fc, as the official code
            (then the fused term is >= 0 and can only raise the logits;
            see the project README). Defaults to True.
        **kwargs: :class:`~mmdet.models.roi_heads.FCNMaskHead` arguments.
    """

    def __init__(self,
                 fusion_from_conv: int = 2,
                 num_fusion_convs: int = 2,
                 fusion_fc_relu: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= fusion_from_conv <= self.num_convs:
            raise ValueError(f'fusion_from_conv must be in [0, '
                             f'{self.num_convs}], got {fusion_from_conv}')
        if num_fusion_convs < 1:
            raise ValueError('num_fusion_convs must be >= 1')
        self.fusion_from_conv = fusion_from_conv
        self.fusion_fc_relu = fusion_fc_relu
        self.fusion_convs = self._build_fusion_convs(num_fusion_convs)
        self.fusion_fc = nn.Linear(
            self.fusion_convs[-1].out_channels * self.roi_feat_size[0] *
            self.roi_feat_size[1], self.mask_size[0] * self.mask_size[1])

    @property
    def mask_size(self) -> Tuple[int, int]:
        """(M, M): the FCN path's output size."""
        scale = self.scale_factor if self.upsample is not None else 1
        return (self.roi_feat_size[0] * scale, self.roi_feat_size[1] * scale)

    def _build_fusion_convs(self, num_convs: int) -> ModuleList:
        """``num_convs`` 3x3 convs; the last one halves the channels."""
        in_channels = (self.in_channels if self.fusion_from_conv == 0 else
                       self.conv_out_channels)
        convs = ModuleList()
        for i in range(num_convs):
            out_channels = self.conv_out_channels
            if i == num_convs - 1:
                out_channels //= 2
            convs.append(
                ConvModule(
                    in_channels,
                    out_channels,
                    self.conv_kernel_size,
                    padding=(self.conv_kernel_size - 1) // 2,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg))
            in_channels = out_channels
        return convs

    def init_weights(self) -> None:
        """FCN layers as FCNMaskHead; the fc as the official one,
        N(0, 0.01) weights and zero bias."""
        super().init_weights()
        nn.init.normal_(self.fusion_fc.weight, std=0.01)
        nn.init.constant_(self.fusion_fc.bias, 0)

    def fcn_logits(self, x: Tensor) -> Tensor:
        """Upsampling and per-class 1x1 conv of the last conv's output.

        Args:
            x (Tensor): (R, C, S, S).

        Returns:
            Tensor: (R, K, M, M) (K = 1 when class-agnostic).
        """
        if self.upsample is not None:
            x = self.upsample(x)
            if self.upsample_method == 'deconv':
                x = self.relu(x)
        return self.conv_logits(x)

    def fused_logits(self, x: Tensor) -> Tensor:
        """The class-agnostic fc mask.

        Args:
            x (Tensor): (R, C, S, S), the tapped conv's output.

        Returns:
            Tensor: (R, 1, M, M).
        """
        for conv in self.fusion_convs:
            x = conv(x)
        x = self.fusion_fc(x.flatten(1))
        if self.fusion_fc_relu:
            x = x.relu()
        return x.view(x.size(0), 1, *self.mask_size)

    def forward(self, x: Tensor) -> Tensor:
        """FCN logits plus the fc mask, added to every class.

        Args:
            x (Tensor): Mask RoI features (R, C_in, S, S); R may be 0.

        Returns:
            Tensor: (R, K, M, M) mask logits.
        """
        tapped = x
        for index, conv in enumerate(self.convs, start=1):
            x = conv(x)
            if index == self.fusion_from_conv:
                tapped = x
        return self.fcn_logits(x) + self.fused_logits(tapped)
