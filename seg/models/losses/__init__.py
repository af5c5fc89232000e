"""Training losses; importing registers them in ``seg.registry.MODELS``."""
from .adversarial_loss import AdversarialLoss
from .bootstrapped_ce_loss import BootstrappedCELoss
from .flow_completion_loss import FlowCompletionLoss
from .xmem_dice_loss import XMemDiceLoss

__all__ = ['AdversarialLoss', 'BootstrappedCELoss', 'FlowCompletionLoss', 'XMemDiceLoss']
