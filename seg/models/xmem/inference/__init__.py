"""XMem's inference core: memory stores, memory manager, object bookkeeping, the per-frame step."""
from .inference_core import DEFAULT_INFERENCE_CONFIG, TrackingInputError, XMemInferenceCore
from .kv_memory_store import KeyValueMemoryStore
from .memory_manager import MemoryManager
from .object_manager import ObjectManager

__all__ = ['DEFAULT_INFERENCE_CONFIG', 'TrackingInputError', 'XMemInferenceCore', 'KeyValueMemoryStore',
           'MemoryManager', 'ObjectManager']
