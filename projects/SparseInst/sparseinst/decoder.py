"""SparseInst's instance activation map (IAM) decoders.

Both branches see the encoder features with two coordinate channels
prepended. The instance branch predicts N activation maps, pools one feature
vector per map and predicts class logits, an objectness logit and a mask
kernel from it; the mask branch predicts mask features; a mask is the dot
product of a kernel with the mask features, upsampled to stride 4.

Three decoders, as in the paper: :class:`BaseIAMDecoder` (one sigmoid IAM per
instance), :class:`GroupIAMDecoder` (G grouped IAMs per instance, their
features concatenated) and :class:`GroupIAMSoftDecoder` (softmax-normalised
group IAMs).
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import (bias_init_with_prob, caffe2_xavier_init,
                            normal_init)
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig
from mmdet_ext.models.layers import (init_nearest_upsamplings,
                                     learnt_upsampling_layers)

# Lower bound of an IAM's total activation: keeps the normalisation finite
# when every sigmoid underflows.
IAM_EPS = 1e-6


def coordinate_features(features: Tensor) -> Tensor:
    """Normalised coordinates [x, y] of every location.

    Corners are included: x = -1 + 2 j / (w - 1). A side of one location is
    -1 (the official formula divides by zero there).

    Args:
        features (Tensor): Features (B, C, h, w); only shape, device and
            dtype are used.

    Returns:
        Tensor: Coordinates (B, 2, h, w).
    """
    batch, _, height, width = features.shape
    x = _corner_aligned_range(width, features).view(1, width)
    y = _corner_aligned_range(height, features).view(height, 1)
    coords = torch.stack([x.expand(height, width), y.expand(height, width)])
    return coords.unsqueeze(0).expand(batch, -1, -1, -1)


def _corner_aligned_range(size, like: Tensor) -> Tensor:
    """``linspace(-1, 1, size)`` (-1 for a size of 1) as an ``arange``,
    which keeps a symbolic size symbolic under ``torch.export`` (``linspace``
    specialises it, fixing the input size of an ONNX graph)."""
    steps = torch.arange(size, device=like.device, dtype=like.dtype)
    return steps * (2 / torch.sym_max(size - 1, 1)) - 1


def conv_relu_stack(in_channels: int, channels: int,
                    num_convs: int) -> nn.Sequential:
    """``num_convs`` x (conv 3x3 with bias + ReLU), no normalisation."""
    layers = []
    for i in range(num_convs):
        layers += [
            nn.Conv2d(in_channels if i == 0 else channels, channels, 3,
                      padding=1),
            nn.ReLU(inplace=True)
        ]
    return nn.Sequential(*layers)


def msra_init(module: nn.Module) -> None:
    """Kaiming-normal (fan-out, ReLU) weights and zero bias of every conv."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(
                m.weight, mode='fan_out', nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class InstanceBranch(BaseModule):
    """Instance branch with one sigmoid IAM per instance.

    Args:
        in_channels (int): Input channels (features + 2 coordinates).
        num_classes (int): Number of classes K.
        num_masks (int): Number of instances N.
        dim (int): Channels of the convs and the instance features.
        num_convs (int): 3x3 convs before the IAM conv.
        kernel_dim (int): Channels of a mask kernel.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 num_masks: int = 100,
                 dim: int = 256,
                 num_convs: int = 4,
                 kernel_dim: int = 128,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_masks = num_masks
        self.inst_convs = conv_relu_stack(in_channels, dim, num_convs)
        self.iam_conv = self._build_iam_conv(dim, num_masks)
        feat_dim = self._instance_feature_dim(dim)
        self.cls_score = nn.Linear(feat_dim, num_classes)
        self.mask_kernel = nn.Linear(feat_dim, kernel_dim)
        self.objectness = nn.Linear(feat_dim, 1)

    def _build_iam_conv(self, dim: int, num_masks: int) -> nn.Conv2d:
        return nn.Conv2d(dim, num_masks, 3, padding=1)

    def _instance_feature_dim(self, dim: int) -> int:
        return dim

    def init_weights(self) -> None:
        """MSRA convs; IAM conv and classifier N(0, 0.01) with the focal
        prior bias (pi = 0.01); kernel N(0, 0.01), bias 0; objectness keeps
        PyTorch's default."""
        msra_init(self.inst_convs)
        prior = bias_init_with_prob(0.01)
        normal_init(self.iam_conv, std=0.01, bias=prior)
        normal_init(self.cls_score, std=0.01, bias=prior)
        normal_init(self.mask_kernel, std=0.01, bias=0.)

    def normalized_iam(self, iam: Tensor) -> Tensor:
        """Each map divided by its total activation, in fp32 (dividing
        after pooling overflows in fp16).

        Args:
            iam (Tensor): IAM logits (B, M, h, w).

        Returns:
            Tensor: Pooling weights (B, M, h * w), summing to <= 1.
        """
        prob = iam.float().flatten(2).sigmoid()
        return prob / prob.sum(-1, keepdim=True).clamp(min=IAM_EPS)

    def pool(self, iam: Tensor, features: Tensor) -> Tensor:
        """Instance features: IAM-weighted sums of the branch features.

        Args:
            iam (Tensor): IAM logits (B, M, h, w).
            features (Tensor): Branch features (B, C, h, w).

        Returns:
            Tensor: Instance features (B, M, C).
        """
        weights = self.normalized_iam(iam)
        return torch.bmm(weights.to(features.dtype),
                         features.flatten(2).transpose(1, 2))

    def instance_features(self, iam: Tensor, features: Tensor) -> Tensor:
        """Features (B, N, C') of the N instances."""
        return self.pool(iam, features)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """
        Args:
            x (Tensor): Features with coordinates (B, in_channels, h, w).

        Returns:
            tuple[Tensor]: class logits (B, N, K), mask kernels
            (B, N, kernel_dim), objectness logits (B, N, 1) and IAM logits
            (B, M, h, w) (M = N, or G * N for group IAMs).
        """
        features = self.inst_convs(x)
        iam = self.iam_conv(features)
        inst = self.instance_features(iam, features)
        return (self.cls_score(inst), self.mask_kernel(inst),
                self.objectness(inst), iam)


class GroupInstanceBranch(InstanceBranch):
    """Instance branch with G grouped IAMs per instance: a grouped 3x3 conv
    (each group sees ``dim / G`` channels) predicts G * N maps; each pools
    the full branch features; the G features of an instance are
    concatenated and mixed by a fully connected layer.

    Args:
        num_groups (int): Number of groups G. Defaults to 4.
        **kwargs: As :class:`InstanceBranch`.
    """

    def __init__(self, *args, num_groups: int = 4, **kwargs) -> None:
        # Set before the base constructor, which builds the grouped layers.
        self.num_groups = num_groups
        super().__init__(*args, **kwargs)
        feat_dim = self.cls_score.in_features
        self.fc = nn.Linear(feat_dim, feat_dim)

    def _build_iam_conv(self, dim: int, num_masks: int) -> nn.Conv2d:
        if dim % self.num_groups:
            raise ValueError(f'num_groups={self.num_groups} must divide the '
                             f'branch width {dim}')
        return nn.Conv2d(
            dim, self.num_groups * num_masks, 3, padding=1,
            groups=self.num_groups)

    def _instance_feature_dim(self, dim: int) -> int:
        return dim * self.num_groups

    def init_weights(self) -> None:
        super().init_weights()
        caffe2_xavier_init(self.fc)

    def instance_features(self, iam: Tensor, features: Tensor) -> Tensor:
        """Pools G * N maps and concatenates the G features of each
        instance: row ``g * N + i`` of the pooled features is group ``g`` of
        instance ``i`` (the official code reshapes with a hard-coded 4
        groups, which mis-groups the features for G != 4).

        Returns:
            Tensor: Instance features (B, N, G * C).
        """
        pooled = self.pool(iam, features)
        batch, _, channels = pooled.shape
        grouped = pooled.view(batch, self.num_groups, self.num_masks,
                              channels).transpose(1, 2)
        return F.relu_(
            self.fc(grouped.reshape(batch, self.num_masks, -1)))


class GroupInstanceSoftBranch(GroupInstanceBranch):
    """Group IAMs normalised by a softmax over locations.

    The learnable ``softmax_bias`` (initialised to 1) is kept for
    compatibility with the official models; a softmax is shift-invariant,
    so it has no effect and receives zero gradient.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.softmax_bias = nn.Parameter(torch.ones(1))

    def normalized_iam(self, iam: Tensor) -> Tensor:
        return F.softmax(iam.float().flatten(2) + self.softmax_bias, dim=-1)


class MaskBranch(BaseModule):
    """Mask features: ``num_convs`` x (conv 3x3 + ReLU), optionally
    ``num_upsamples`` x (2 x 2 transposed conv + ReLU), then a 1x1 projection
    to ``kernel_dim`` channels.

    The paper's branch (``num_upsamples=0``) keeps the encoder's stride 8,
    where a 5-15 px object covers 1-2 cells. Each upsampling halves the
    stride; it starts as nearest upsampling (the convs' outputs are
    non-negative), so at initialisation the branch is the paper's at the
    finer resolution.

    Args:
        in_channels (int): Input channels (features + 2 coordinates).
        dim (int): Channels of the convs.
        num_convs (int): Number of 3x3 convs.
        kernel_dim (int): Output channels (mask kernel size).
        num_upsamples (int): Number of learnt 2x upsamplings. Defaults to 0.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 dim: int = 256,
                 num_convs: int = 4,
                 kernel_dim: int = 128,
                 num_upsamples: int = 0,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mask_convs = conv_relu_stack(in_channels, dim, num_convs)
        self.upsamples = nn.Sequential(
            *learnt_upsampling_layers(dim, num_upsamples))
        self.projection = nn.Conv2d(dim, kernel_dim, 1)

    def init_weights(self) -> None:
        msra_init(self)
        init_nearest_upsamplings(self.upsamples)

    def forward(self, x: Tensor) -> Tensor:
        """
        Args:
            x (Tensor): Features with coordinates (B, in_channels, h, w).

        Returns:
            Tensor: Mask features (B, kernel_dim, h * 2^u, w * 2^u) for
            ``num_upsamples`` u.
        """
        return self.projection(self.upsamples(self.mask_convs(x)))


@MODELS.register_module()
class BaseIAMDecoder(BaseModule):
    """SparseInst decoder with one sigmoid IAM per instance (``IAM`` in the
    paper).

    Args:
        in_channels (int): Channels of the encoder features (the two
            coordinate channels are added here). Defaults to 256.
        num_classes (int): Number of classes K. Defaults to 80.
        num_masks (int): Number of instance queries N. Defaults to 100.
        inst_dim (int): Width of the instance branch. Defaults to 256.
        inst_convs (int): 3x3 convs of the instance branch. Defaults to 4.
        mask_dim (int): Width of the mask branch. Defaults to 256.
        mask_convs (int): 3x3 convs of the mask branch. Defaults to 4.
        kernel_dim (int): Mask kernel size. Defaults to 128.
        scale_factor (float): Bilinear upsampling of the mask logits: 2.0
            is the paper's stride 8 -> 4; 8.0 trains and predicts them at
            input resolution, which small objects need (project README).
            Defaults to 2.0.
        mask_upsamples (int): Learnt 2x upsamplings of the mask features
            before the kernel product (:class:`MaskBranch`); the masks'
            stride is ``8 / 2**mask_upsamples / scale_factor``. Defaults to
            0 (the paper).
        output_iam (bool): Also return the IAMs (``pred_iam``), upsampled
            like the masks. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
    """
    branch_type = InstanceBranch

    def __init__(self,
                 in_channels: int = 256,
                 num_classes: int = 80,
                 num_masks: int = 100,
                 inst_dim: int = 256,
                 inst_convs: int = 4,
                 mask_dim: int = 256,
                 mask_convs: int = 4,
                 kernel_dim: int = 128,
                 scale_factor: float = 2.0,
                 mask_upsamples: int = 0,
                 output_iam: bool = False,
                 init_cfg: OptMultiConfig = None,
                 **branch_kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.num_masks = num_masks
        self.scale_factor = scale_factor
        self.output_iam = output_iam
        self.inst_branch = self.branch_type(
            in_channels + 2,
            num_classes,
            num_masks=num_masks,
            dim=inst_dim,
            num_convs=inst_convs,
            kernel_dim=kernel_dim,
            **branch_kwargs)
        self.mask_branch = MaskBranch(
            in_channels + 2, dim=mask_dim, num_convs=mask_convs,
            kernel_dim=kernel_dim, num_upsamples=mask_upsamples)
        self.mask_upsamples = mask_upsamples

    def upsample(self,
                 maps: Tensor,
                 scale_factor: Optional[float] = None) -> Tensor:
        """Bilinear upsampling (align_corners=False) by ``scale_factor``,
        by default the decoder's."""
        if scale_factor is None:
            scale_factor = self.scale_factor
        return F.interpolate(
            maps, scale_factor=scale_factor, mode='bilinear',
            align_corners=False)

    def predict_masks(self, kernels: Tensor, mask_features: Tensor) -> Tensor:
        """Mask logits, in fp32 outside autocast: in half precision the
        kernel product can overflow, and upsampling turns inf into NaN
        (official issues #66, #84, #126).

        Args:
            kernels (Tensor): Mask kernels (B, N, D).
            mask_features (Tensor): Mask features (B, D, h, w).

        Returns:
            Tensor: Mask logits (B, N, h * s, w * s), float32.
        """
        device_type = mask_features.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            batch, _, height, width = mask_features.shape
            masks = torch.bmm(kernels.float(),
                              mask_features.float().flatten(2))
            return self.upsample(masks.view(batch, -1, height, width))

    def forward(self, features: Tensor) -> Dict[str, Tensor]:
        """
        Args:
            features (Tensor): Encoder features (B, C, h, w), stride 8.

        Returns:
            dict[str, Tensor]: ``pred_logits`` (B, N, K), ``pred_scores``
            (B, N, 1) objectness logits, ``pred_masks`` (B, N, sh, sw) mask
            logits (float32) and, with ``output_iam``, ``pred_iam``
            (B, M, sh, sw), for s = ``scale_factor * 2**mask_upsamples``
            (2 in the paper).
        """
        x = torch.cat([coordinate_features(features), features], dim=1)
        logits, kernels, scores, iam = self.inst_branch(x)
        outputs = dict(
            pred_logits=logits,
            pred_scores=scores,
            pred_masks=self.predict_masks(kernels, self.mask_branch(x)))
        if self.output_iam:
            # the IAMs keep stride 8: bring them to the masks' resolution
            outputs['pred_iam'] = self.upsample(
                iam, self.scale_factor * 2**self.mask_upsamples)
        return outputs


@MODELS.register_module()
class GroupIAMDecoder(BaseIAMDecoder):
    """SparseInst decoder with G grouped IAMs per instance (``G-IAM``, the
    official default).

    Args:
        num_groups (int): Number of groups G; must divide ``inst_dim``.
            Defaults to 4.
        **kwargs: As :class:`BaseIAMDecoder`.
    """
    branch_type = GroupInstanceBranch

    def __init__(self, *args, num_groups: int = 4, **kwargs) -> None:
        super().__init__(*args, num_groups=num_groups, **kwargs)
        self.num_groups = num_groups


@MODELS.register_module()
class GroupIAMSoftDecoder(GroupIAMDecoder):
    """:class:`GroupIAMDecoder` with softmax-normalised IAMs (``G-IAM
    soft``)."""
    branch_type = GroupInstanceSoftBranch


__all__ = [
    'BaseIAMDecoder', 'GroupIAMDecoder', 'GroupIAMSoftDecoder',
    'InstanceBranch', 'GroupInstanceBranch', 'GroupInstanceSoftBranch',
    'MaskBranch', 'coordinate_features'
]
