"""FastSAM2: RapSAM grown into one multi-task model (task router, prompt fusion, streaming memory)."""
from .prompt_fusion import PromptError, PromptFusion, check_prompts
from .text_encoder import TextEncoder
from .toy_text_encoder import ToyTextEncoder

__all__ = ['PromptError', 'PromptFusion', 'check_prompts', 'TextEncoder', 'ToyTextEncoder']
