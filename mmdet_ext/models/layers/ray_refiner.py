"""One contour-refinement step of polar polygons: features sampled along each
ray, a circular convolution over the rays, a new length per ray and a quality
logit per polygon."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmdet.registry import MODELS
from mmdet_ext.geometry.ray_targets import ray_directions

# Floor of the ray lengths (input pixels) whose logarithm the refiner reads.
MIN_RAY = 1e-3


@MODELS.register_module()
class RayRefiner(BaseModule):
    """Refine the rays of polygons whose origins stay fixed.

    Each ray k of a polygon is read on a feature map at ``radii`` times its
    length, inside, on and outside the predicted boundary, so the step can
    see on which side the object's edge lies. A stack of circular 1-D
    convolutions over the K rays (each ray sees its neighbours, as in the
    circular convolution of Deep Snake, CVPR 2020) turns these samples and
    the polygon's shape into a log-ratio per ray, bounded by
    ``max_log_ratio``, and the max over the rays into a mask-quality logit of
    the refined polygon. The input rays are detached: the step learns a
    correction without pulling the first prediction along.

    The last layers start at zero, so an untrained step returns its input
    rays unchanged.

    Args:
        in_channels (int): Channels of the sampled feature map.
        num_rays (int): Rays per polygon K.
        hidden_channels (int): Channels of the circular convolutions.
            Defaults to 64.
        num_convs (int): Circular convolutions. Defaults to 3.
        kernel_size (int): Rays each convolution spans (odd). Defaults to 5.
        radii (Sequence[float]): Where each ray is sampled, as fractions of
            its length. Defaults to (0.5, 1.0, 1.5).
        max_log_ratio (float): Bound of the log-ratio per step (a ray is at
            most scaled by ``e^max_log_ratio``). Defaults to 1.0.
        with_quality (bool): Predict the quality logit (a step whose quality
            nobody trains has none, so every parameter gets a gradient, as
            DDP requires). Defaults to True.
        init_cfg (dict, optional): Initialisation of the module.
    """

    def __init__(self,
                 in_channels: int,
                 num_rays: int,
                 hidden_channels: int = 64,
                 num_convs: int = 3,
                 kernel_size: int = 5,
                 radii: Sequence[float] = (0.5, 1.0, 1.5),
                 max_log_ratio: float = 1.0,
                 with_quality: bool = True,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        if not radii or min(radii) < 0:
            raise ValueError(f'radii must be non-negative, got {radii}')
        self.num_rays = num_rays
        self.radii = tuple(float(r) for r in radii)
        self.max_log_ratio = max_log_ratio
        convs = []
        channels = in_channels * len(self.radii) + 1
        for _ in range(num_convs):
            convs += [
                nn.Conv1d(
                    channels,
                    hidden_channels,
                    kernel_size,
                    padding=kernel_size // 2,
                    padding_mode='circular'),
                nn.ReLU(inplace=True)
            ]
            channels = hidden_channels
        self.convs = nn.Sequential(*convs)
        self.ray_out = nn.Conv1d(2 * hidden_channels, 1, 1)
        self.quality_out = (
            nn.Linear(hidden_channels, 1) if with_quality else None)
        for layer in (self.ray_out, self.quality_out):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, feats: Tensor, stride: int, points: Tensor,
                rays: Tensor,
                batch_inds: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Refine the rays of n polygons.

        Args:
            feats (Tensor): Feature map (B, C, H, W) of stride ``stride``
                over the padded input image.
            stride (int): Stride of ``feats`` in input pixels.
            points (Tensor): Ray origins in input pixels (n, 2).
            rays (Tensor): Ray lengths in input pixels (n, K).
            batch_inds (Tensor): Image of each polygon in the batch (n, ).

        Returns:
            tuple[Tensor, Tensor | None]: Refined ray lengths (n, K),
            float32, and quality logits of the refined polygons (n, ), None
            without ``with_quality``.
        """
        # No branch on n: no polygon runs the same (empty) ops, which keeps
        # every parameter in the graph (DDP) and the graph exportable.
        rays = rays.detach().float().clamp(min=MIN_RAY)
        samples = self._sample(feats, stride, points.float(), rays,
                               batch_inds)
        log_rays = rays.log()
        shape = (log_rays - log_rays.mean(-1, keepdim=True)).unsqueeze(1)
        hidden = self.convs(torch.cat([samples, shape], dim=1))
        pooled = hidden.max(dim=-1).values
        fused = torch.cat([hidden, pooled.unsqueeze(-1).expand_as(hidden)],
                          dim=1)
        step = self.ray_out(fused).squeeze(1)
        step = self.max_log_ratio * torch.tanh(step / self.max_log_ratio)
        quality = (None if self.quality_out is None else
                   self.quality_out(pooled).squeeze(-1))
        return (log_rays + step).exp(), quality

    def _sample(self, feats: Tensor, stride: int, points: Tensor,
                rays: Tensor, batch_inds: Tensor) -> Tensor:
        """Bilinear samples of ``feats`` at ``radii`` along every ray.

        Returns:
            Tensor: (n, C * len(radii), K); zero outside the feature map.
        """
        num, num_rays = rays.shape
        directions = ray_directions(num_rays, rays.device, rays.dtype)
        radii = rays.new_tensor(self.radii)
        # (n, K, R, 2): origin + r * d_k * u_k.
        offsets = (rays[:, :, None, None] * radii[None, None, :, None] *
                   directions[None, :, None, :])
        locations = points[:, None, None, :] + offsets
        # Pixel i of the map covers [i, i + 1) * stride, so the map spans
        # W * stride input pixels (grid_sample, align_corners=False).
        height, width = feats.shape[-2:]
        # Divided by the sizes as numbers, not as a tensor made of them, so
        # that an exported graph keeps its dynamic image size.
        grid = torch.stack([
            locations[..., 0] / (width * stride),
            locations[..., 1] / (height * stride)
        ], dim=-1)
        grid = (grid * 2 - 1).to(feats.dtype)
        channels, per_row = feats.shape[1], num_rays * len(radii)
        if feats.shape[0] == 1:
            # One image (inference, export): no data-dependent loop.
            out = self._grid_sample(feats, grid, num, per_row)
        else:
            out = feats.new_zeros((num, channels, per_row))
            for img in batch_inds.unique().tolist():
                sel = batch_inds == img
                out[sel] = self._grid_sample(feats[img:img + 1], grid[sel],
                                             int(sel.sum()), per_row)
        # (n, C, K * R) -> (n, C, K, R) -> (n, C * R, K)
        out = out.reshape(num, channels, num_rays, len(radii))
        return out.permute(0, 1, 3, 2).reshape(num, channels * len(radii),
                                               num_rays).float()

    @staticmethod
    def _grid_sample(feats: Tensor, grid: Tensor, num: int,
                     per_row: int) -> Tensor:
        """Samples (num, C, per_row) of one image's map (1, C, H, W) at
        ``grid`` (num, ..., 2) in grid_sample's [-1, 1] coordinates."""
        sampled = F.grid_sample(
            feats,
            grid.reshape(1, num, per_row, 2),
            mode='bilinear',
            padding_mode='zeros',
            align_corners=False)
        return sampled[0].permute(1, 0, 2)
