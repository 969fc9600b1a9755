"""Training-loop pieces: resumable random state, mixed precision on CPU and
the runner a config asks for."""
from .hooks import RNGStateHook
from .optim_wrapper import CPUAmpOptimWrapper, amp_optim_wrapper
from .runner import build_runner

__all__ = [
    'RNGStateHook', 'CPUAmpOptimWrapper', 'amp_optim_wrapper', 'build_runner'
]
