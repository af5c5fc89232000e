"""Optimiser-wrapper constructors; importing registers them in ``seg.registry.OPTIM_WRAPPER_CONSTRUCTORS``."""
from .multi_optim_wrapper_constructor import MultiOptimWrapperConstructor

__all__ = ['MultiOptimWrapperConstructor']
