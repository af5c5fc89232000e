"""FastSAM2: RapSAM grown into one multi-task model (task router, prompt fusion, streaming memory)."""
from .streaming_memory_adapter import StreamingMemoryAdapter

__all__ = ['StreamingMemoryAdapter']
