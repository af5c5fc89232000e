"""FastSAM2: RapSAM grown into one multi-task model (task router, prompt fusion, streaming memory)."""
from .fastsam2 import FastSAM2
from .fastsam2_data_preprocessor import FastSAM2DataPreprocessor
from .lite_dfpn import LiteDFPN
from .prompt_fusion import PromptError, PromptFusion, check_prompts
from .streaming_memory_adapter import StreamingMemoryAdapter
from .task_router import TASKS, TaskError, TaskRouter
from .text_encoder import TextEncoder
from .toy_text_encoder import ToyTextEncoder

__all__ = ['FastSAM2', 'FastSAM2DataPreprocessor', 'LiteDFPN', 'PromptError', 'PromptFusion', 'check_prompts',
           'StreamingMemoryAdapter', 'TASKS', 'TaskError', 'TaskRouter', 'TextEncoder', 'ToyTextEncoder']
