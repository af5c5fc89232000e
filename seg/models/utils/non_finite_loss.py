"""Stop training at the first NaN or infinite loss term, before it reaches the weights."""
import math
from typing import Mapping, Optional, Union

import torch
from torch import Tensor

#: What the error names when no checkpoint has been written yet.
NO_CHECKPOINT = 'none saved yet'


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite; raised before the backward pass it would have poisoned.

    Args:
        term: name of the loss term, e.g. ``'loss_hole'``.
        value: its value.
        stage: when it was found, e.g. ``'before any backward pass; no weights changed'``.
        iteration: 1-based training iteration (as logged), when known.
        last_checkpoint: the last checkpoint written (``<work_dir>/last_checkpoint``), or
            :data:`NO_CHECKPOINT`, when known.
    """

    def __init__(self, term: str, value: float, stage: str = '', iteration: Optional[int] = None,
                 last_checkpoint: Optional[str] = None) -> None:
        self.term = term
        self.value = value
        self.stage = stage
        self.iteration = iteration
        self.last_checkpoint = last_checkpoint
        where = '' if iteration is None else f' at iteration {iteration}'
        message = f'loss term {term!r} is {value}{where}'
        if stage:
            message += f' ({stage})'
        if last_checkpoint is not None:
            message += (f'. Last good checkpoint: {last_checkpoint}. Resume from it with a lower learning rate '
                        'or fix the data that produced the value')
        super().__init__(message)


def check_finite_losses(losses: Mapping[str, Union[Tensor, float]], stage: str = '') -> None:
    """Raise :class:`NonFiniteLossError` for the first term (in order) that is NaN or infinite.

    Args:
        losses: term name -> scalar tensor or float.
        stage: goes into the error message (see :class:`NonFiniteLossError`).
    """
    for term, value in losses.items():
        number = float(value.detach().float().sum()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(number):
            raise NonFiniteLossError(term, number, stage)
