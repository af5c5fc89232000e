"""An optimiser wrapper whose forward runs under CPU bfloat16 autocast: ``tools/train.py --amp`` without CUDA."""
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from seg.registry import OPTIM_WRAPPERS

#: The only dtype CPU autocast casts to (float16 on CPU is neither faster nor supported by every op).
CPU_AUTOCAST_DTYPE = torch.bfloat16


@lru_cache(maxsize=None)
def cpu_bf16_autocast_available() -> bool:
    """Whether this torch autocasts CPU matmuls to bfloat16 (tried once per process on a 2×2 matmul)."""
    if not torch.amp.autocast_mode.is_autocast_available('cpu'):
        return False
    try:
        with torch.autocast('cpu', dtype=CPU_AUTOCAST_DTYPE):
            product = torch.ones(2, 2) @ torch.ones(2, 2)
    except RuntimeError:
        return False
    return product.dtype == CPU_AUTOCAST_DTYPE


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """:class:`OptimWrapper` whose ``optim_context`` also enters ``torch.autocast('cpu', dtype=torch.bfloat16)``.

    The model's forward and loss (everything :meth:`BaseModel.train_step` runs
    inside ``optim_context``) then compute matmuls and convolutions in bfloat16;
    parameters, gradients and the optimiser state stay float32. bfloat16 has
    float32's exponent range, so unlike mmengine's ``AmpOptimWrapper`` (float16,
    CUDA only) no loss scaling is needed: ``backward``/``step`` are
    ``OptimWrapper``'s. Validation is not affected (mmengine's ``ValLoop`` runs
    float32 unless its ``fp16`` flag is set).

    Args:
        *args, **kwargs: as :class:`OptimWrapper` (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).

    Raises:
        RuntimeError: this torch has no CPU bfloat16 autocast.
    """

    def __init__(self, *args, **kwargs) -> None:
        if not cpu_bf16_autocast_available():
            raise RuntimeError(f'BF16AutocastOptimWrapper: torch {torch.__version__} has no bfloat16 autocast on '
                               'CPU, so --amp cannot run here; train without --amp (float32) or on a CUDA device')
        super().__init__(*args, **kwargs)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """``OptimWrapper``'s context (gradient accumulation) plus CPU bfloat16 autocast."""
        with super().optim_context(model), torch.autocast('cpu', dtype=CPU_AUTOCAST_DTYPE):
            yield
