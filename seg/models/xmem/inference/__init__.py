"""XMem's inference: memory stores, memory manager, object bookkeeping, the per-frame step, the tracking session."""
from .inference_core import DEFAULT_INFERENCE_CONFIG, TrackingInputError, XMemInferenceCore
from .kv_memory_store import KeyValueMemoryStore
from .memory_manager import MemoryManager
from .object_manager import ObjectManager, as_object_ids
from .xmem_session import XMemSession

__all__ = ['DEFAULT_INFERENCE_CONFIG', 'TrackingInputError', 'XMemInferenceCore', 'KeyValueMemoryStore',
           'MemoryManager', 'ObjectManager', 'XMemSession', 'as_object_ids']
