"""Segment Anything's prompt encoder and the layers it needs."""
from .layer_norm_2d import LayerNorm2d
from .prompt_encoder import PositionEmbeddingRandom, PromptEncoder

__all__ = ['LayerNorm2d', 'PositionEmbeddingRandom', 'PromptEncoder']
