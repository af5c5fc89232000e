"""What a person calls from Python; the tools are thin shells over these."""
from .image_inference import init_model, read_image, segment_image
from .runner import load_config, test, train

__all__ = ['init_model', 'load_config', 'read_image', 'segment_image', 'test', 'train']
