"""SOLOv2 mask features at a finer stride than the finest FPN level, and
the learnt upsampling layers they share with other mask branches."""
from typing import List

import torch
from torch import nn

from mmdet.models.dense_heads.solov2_head import MaskFeatModule
from mmdet.registry import MODELS


def learnt_upsampling_layers(channels: int,
                             num_upsamples: int) -> List[nn.Module]:
    """``num_upsamples`` x (2 x 2 transposed conv, stride 2, + ReLU) keeping
    ``channels``; :func:`init_nearest_upsamplings` starts them as nearest
    upsampling.

    Raises:
        ValueError: If ``num_upsamples`` is not a non-negative integer.
    """
    if not isinstance(num_upsamples, int) or num_upsamples < 0:
        raise ValueError('num_upsamples must be a non-negative integer, '
                         f'got {num_upsamples!r}')
    return [
        layer for _ in range(num_upsamples)
        for layer in (nn.ConvTranspose2d(channels, channels, 2, stride=2),
                      nn.ReLU(inplace=True))
    ]


def init_as_nearest_upsampling(deconv: nn.ConvTranspose2d) -> None:
    """Make a square transposed convolution (in = out channels, kernel =
    stride) an identity per channel followed by nearest upsampling."""
    if deconv.in_channels != deconv.out_channels or \
            deconv.kernel_size != deconv.stride:
        raise ValueError(
            'nearest upsampling needs in_channels == out_channels and '
            f'kernel_size == stride, got {deconv}')
    with torch.no_grad():
        deconv.weight.zero_()
        if deconv.bias is not None:
            deconv.bias.zero_()
        # weight: (in_channels, out_channels, kh, kw)
        channels = torch.arange(deconv.in_channels)
        deconv.weight[channels, channels] = 1.


def init_nearest_upsamplings(module: nn.Module) -> None:
    """:func:`init_as_nearest_upsampling` for every transposed convolution
    of ``module``."""
    for layer in module.modules():
        if isinstance(layer, nn.ConvTranspose2d):
            init_as_nearest_upsampling(layer)


@MODELS.register_module()
class UpsampledMaskFeatModule(MaskFeatModule):
    """:class:`MaskFeatModule` whose fused features are upsampled by a learnt
    2 x 2 transposed convolution (and ReLU) before the output convolution.

    SOLOv2's mask features have the stride of the finest FPN level it fuses
    (4 for P2): an object of 5-15 px at the tiny configs' 512 px covers 1-4
    feature cells. As Mask R-CNN's mask head, which doubles its 14 x 14 RoI
    features with a learnt 2 x 2 deconvolution, the upsampling lets the
    channels place a boundary inside a cell, which bilinear interpolation of
    the mask logits cannot. Each transposed convolution starts as nearest
    upsampling (an identity per channel): the fused features are
    non-negative (sums of ReLU outputs), so at initialisation the module is
    the official one at the finer resolution, and training starts from it
    rather than from a random upsampling.

    Args:
        mask_stride (int): Stride of the output, the fused level's stride
            divided by ``2 ** num_upsamples`` (e.g. 2 for P2 and one
            upsampling). The head reads it to size its targets and masks.
        num_upsamples (int): Number of 2x upsamplings. Defaults to 1.
        *args, **kwargs: Arguments of :class:`MaskFeatModule`.
    """

    def __init__(self,
                 *args,
                 mask_stride: int = 2,
                 num_upsamples: int = 1,
                 **kwargs) -> None:
        if not isinstance(num_upsamples, int) or num_upsamples < 1:
            raise ValueError(
                f'num_upsamples must be a positive integer, got '
                f'{num_upsamples!r}')
        self.num_upsamples = num_upsamples
        super().__init__(*args, mask_stride=mask_stride, **kwargs)

    def _init_layers(self) -> None:
        """The official layers, with the upsampling before ``conv_pred``
        (so that :meth:`MaskFeatModule.forward` applies it)."""
        super()._init_layers()
        self.conv_pred = nn.Sequential(
            *learnt_upsampling_layers(self.feat_channels, self.num_upsamples),
            self.conv_pred)

    def init_weights(self) -> None:
        """The official initialisation, and nearest upsampling for every
        transposed convolution."""
        super().init_weights()
        init_nearest_upsamplings(self.conv_pred)
