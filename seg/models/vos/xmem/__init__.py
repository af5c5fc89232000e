"""XMem: network (official checkpoint layout) and, in ``inference``, the memory-based inference core."""
from .xmem_network import XMem, XMemCheckpointError, load_xmem_checkpoint

__all__ = ['XMem', 'XMemCheckpointError', 'load_xmem_checkpoint']
