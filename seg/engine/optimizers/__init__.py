"""Optimiser wrappers and their constructors; importing registers them in ``seg.registry``."""
from .bf16_autocast_optim_wrapper import BF16AutocastOptimWrapper, cpu_bf16_autocast_available
from .multi_optim_wrapper_constructor import MultiOptimWrapperConstructor

__all__ = ['BF16AutocastOptimWrapper', 'MultiOptimWrapperConstructor', 'cpu_bf16_autocast_available']
