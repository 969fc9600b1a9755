"""SparseInst's instance context encoder: ResNet C3-C5 fused into one
stride-8 feature map (an FPN without norm layers, with a pyramid pooling
module on the coarsest level)."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import caffe2_xavier_init, kaiming_init
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig


@MODELS.register_module()
class PyramidPoolingModule(BaseModule):
    """Pyramid pooling (PSPNet): average-pool to ``s x s`` for every bin
    ``s``, project, upsample back and fuse with the input.

    Args:
        in_channels (int): Input (and output) channels.
        channels (int, optional): Channels of each pooled branch. Defaults
            to ``in_channels // 4``.
        bins (Sequence[int]): Output sizes of the adaptive pooling.
            Defaults to (1, 2, 3, 6).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int = None,
                 bins: Sequence[int] = (1, 2, 3, 6),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        channels = channels or in_channels // 4
        self.bins = tuple(bins)
        self.stages = nn.ModuleList(
            nn.Conv2d(in_channels, channels, 1) for _ in self.bins)
        self.bottleneck = nn.Conv2d(in_channels + len(self.bins) * channels,
                                    in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """
        Args:
            x (Tensor): Features (B, C, h, w).

        Returns:
            Tensor: Features (B, C, h, w).
        """
        size = x.shape[-2:]
        priors = [
            F.interpolate(
                F.relu(stage(self.pool(x, bin_size))),
                size=size,
                mode='bilinear',
                align_corners=False)
            for stage, bin_size in zip(self.stages, self.bins)
        ]
        return F.relu(self.bottleneck(torch.cat(priors + [x], dim=1)))


    @staticmethod
    def pool(x: Tensor, bins: int) -> Tensor:
        """Adaptive average pooling to ``bins x bins`` (B, C, bins, bins).

        Under ``torch.export`` (ONNX export) it is computed with pooling
        matrices (:func:`adaptive_pooling_matrix`): ONNX has no
        adaptive pooling, and the exporter would otherwise fix the input
        size of a dynamic-shape graph.
        """
        if not (torch.compiler.is_exporting()
                or torch.onnx.is_in_onnx_export()):
            return F.adaptive_avg_pool2d(x, bins)
        rows = adaptive_pooling_matrix(x.shape[-2], bins, x)
        cols = adaptive_pooling_matrix(x.shape[-1], bins, x)
        # Broadcast products and sums, not matmul: matmul's internal
        # reshapes add guards on the symbolic sizes that fix them.
        pooled = (x.unsqueeze(2) * rows[:, :, None]).sum(3)  # (B, C, s, w)
        return (pooled.unsqueeze(3) * cols).sum(-1)  # (B, C, s, s)


def adaptive_pooling_matrix(size, bins: int, like: Tensor) -> Tensor:
    """(bins, size) matrix whose product with a (..., size, n) tensor is
    ``adaptive_avg_pool`` along that dimension: bin i averages the cells
    [floor(i * size / bins), ceil((i + 1) * size / bins)), as PyTorch's.

    Args:
        size (int | SymInt): Length of the pooled dimension.
        bins (int): Output length.
        like (Tensor): Gives the dtype and device.
    """
    index = torch.arange(bins, device=like.device)
    start = torch.div(index * size, bins, rounding_mode='floor')
    end = torch.div((index + 1) * size + bins - 1, bins,
                    rounding_mode='floor')
    cells = torch.arange(size, device=like.device)
    inside = (cells >= start[:, None]) & (cells < end[:, None])
    return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)


@MODELS.register_module()
class InstanceContextEncoder(BaseModule):
    """SparseInst's encoder: a top-down pyramid over C3-C5 whose coarsest
    level goes through a pyramid pooling module, fused into one map at the
    finest level (stride 8 for ResNet C3). No normalisation layers.

    Args:
        in_channels (Sequence[int]): Channels of the backbone levels used,
            finest first. Defaults to ResNet-50's (512, 1024, 2048).
        out_channels (int): Channels of every level and of the output.
            Defaults to 256.
        with_ppm (bool): Pyramid pooling on the coarsest level. Defaults to
            True.
        ppm_bins (Sequence[int]): Bins of the pyramid pooling.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 2048),
                 out_channels: int = 256,
                 with_ppm: bool = True,
                 ppm_bins: Sequence[int] = (1, 2, 3, 6),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = tuple(in_channels)
        self.out_channels = out_channels
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(c, out_channels, 1) for c in self.in_channels)
        self.output_convs = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1)
            for _ in self.in_channels)
        self.ppm = PyramidPoolingModule(
            out_channels, bins=ppm_bins) if with_ppm else nn.Identity()
        self.fusion = nn.Conv2d(
            len(self.in_channels) * out_channels, out_channels, 1)

    def init_weights(self) -> None:
        """Caffe2-Xavier for the pyramid, MSRA (fan-out) for the fusion;
        the pyramid pooling keeps PyTorch's default initialisation."""
        for conv in [*self.lateral_convs, *self.output_convs]:
            caffe2_xavier_init(conv)
        kaiming_init(self.fusion, mode='fan_out', nonlinearity='relu')

    def forward(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """
        Args:
            feats (tuple[Tensor]): Backbone levels; the last
                ``len(in_channels)`` are used, e.g. C3 (B, 512, H/8, W/8),
                C4 (B, 1024, H/16, W/16), C5 (B, 2048, H/32, W/32).

        Returns:
            Tensor: Fused features (B, out_channels, H/8, W/8).
        """
        feats = feats[-len(self.in_channels):]
        # The pooled coarsest level, not its 3x3 output, feeds the top-down
        # path.
        prev = self.ppm(self.lateral_convs[-1](feats[-1]))
        outs = [self.output_convs[-1](prev)]
        for i in range(len(feats) - 2, -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            prev = lateral + F.interpolate(
                prev, size=lateral.shape[-2:], mode='nearest')
            outs.insert(0, self.output_convs[i](prev))
        size = outs[0].shape[-2:]
        outs = [outs[0]] + [
            F.interpolate(out, size=size, mode='bilinear',
                          align_corners=False) for out in outs[1:]
        ]
        return self.fusion(torch.cat(outs, dim=1))
