"""FastSAM2: RapSAM grown into one multi-task model (task router, prompt fusion, streaming memory)."""
from .lite_dfpn import LiteDFPN
from .streaming_memory_adapter import StreamingMemoryAdapter

__all__ = ['LiteDFPN', 'StreamingMemoryAdapter']
