"""XMem: network (official checkpoint layout), its losses and mmengine model, and in ``inference`` the memory core."""
from .bootstrapped_ce_loss import BootstrappedCELoss
from .xmem import XMem, XMemCheckpointError, load_xmem_checkpoint
from .xmem_dice_loss import XMemDiceLoss
from .xmem_vos import XMemVOS

__all__ = ['BootstrappedCELoss', 'XMem', 'XMemCheckpointError', 'XMemDiceLoss', 'XMemVOS', 'load_xmem_checkpoint']
