"""Training loops; importing registers them in ``seg.registry.LOOPS``."""
from .guarded_train_loop import GuardedTrainLoop, last_good_checkpoint

__all__ = ['GuardedTrainLoop', 'last_good_checkpoint']
