"""ProPainter (ICCV 2023): generator and its two training stages; importing registers them in ``seg.registry.MODELS``."""
from .flow_completion_model import FlowCompletionModel
from .propainter_gan import ProPainterGAN
from .propainter_generator import ProPainterGenerator

__all__ = ['FlowCompletionModel', 'ProPainterGAN', 'ProPainterGenerator']
