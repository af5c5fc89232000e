"""Losses two or more model families share; importing registers them in ``seg.registry.MODELS``."""
from .adversarial_loss import AdversarialLoss
from .flow_completion_loss import FlowCompletionLoss
from .perceptual_loss import PerceptualLoss

__all__ = ['AdversarialLoss', 'FlowCompletionLoss', 'PerceptualLoss']
