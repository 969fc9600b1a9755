"""Training-loop pieces: resumable random state and mixed precision on CPU."""
from .hooks import RNGStateHook
from .optim_wrapper import CPUAmpOptimWrapper, amp_optim_wrapper

__all__ = ['RNGStateHook', 'CPUAmpOptimWrapper', 'amp_optim_wrapper']
