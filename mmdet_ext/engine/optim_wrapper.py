"""Mixed-precision training on CPU.

mmengine 0.10.7's ``AmpOptimWrapper`` asserts a CUDA (or NPU/MLU/MUSA)
device, because it always builds ``torch.cuda.amp.GradScaler``. On CPU,
``torch.autocast`` only runs in bfloat16, which has float32's exponent
range, so gradients do not underflow and no loss scaling is needed:
:class:`CPUAmpOptimWrapper` is the plain optimizer wrapper inside a bfloat16
autocast context. Parts that must stay in float32 (the polar geometry) cast
explicitly, as under CUDA autocast.
"""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmdet.registry import OPTIM_WRAPPERS
from mmdet_ext.utils.dist import cuda_available


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward passes run under CPU bfloat16 autocast.

    Args:
        dtype (str | torch.dtype): Autocast dtype; CPU autocast supports
            ``'bfloat16'`` only. Defaults to ``'bfloat16'``.
        **kwargs: As :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype='bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if dtype != torch.bfloat16:
            raise ValueError(
                f'CPU autocast supports only bfloat16, got dtype={dtype}')
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield


def amp_optim_wrapper(optim_wrapper: dict) -> dict:
    """The ``optim_wrapper`` config with mixed precision for this machine.

    Args:
        optim_wrapper (dict): The config's ``optim_wrapper``.

    Returns:
        dict: With CUDA, mmengine's ``AmpOptimWrapper`` (float16) with
        dynamic loss scaling, as MMDetection's ``--amp`` (an
        ``AmpOptimWrapper`` config is kept as it is); without CUDA,
        :class:`CPUAmpOptimWrapper` (bfloat16, ``loss_scale`` dropped).
        Other keys are kept.
    """
    optim_wrapper = dict(optim_wrapper)
    if cuda_available():
        if optim_wrapper.get('type') != 'AmpOptimWrapper':
            optim_wrapper.update(type='AmpOptimWrapper', loss_scale='dynamic')
    else:
        optim_wrapper.pop('loss_scale', None)
        optim_wrapper.update(type='CPUAmpOptimWrapper', dtype='bfloat16')
    return optim_wrapper
