"""What a person calls from Python; the tools are thin shells over these."""
from .runner import load_config, test, train

__all__ = ['load_config', 'test', 'train']
