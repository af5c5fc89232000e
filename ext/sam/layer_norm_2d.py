"""Layer norm over the channel axis of a (B, C, H, W) map, as SAM uses it."""
import torch
import torch.nn as nn
from torch import Tensor


class LayerNorm2d(nn.Module):
    """Normalise each pixel's C channels to zero mean and unit variance, then scale and shift.

    The state_dict is ``weight`` (C,) and ``bias`` (C,), as in SAM checkpoints.

    Args:
        num_channels (int): C, the size of dim 1 of the input.
        eps (float): Added to the (biased) variance before the square root. Defaults to 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape (B, C, H, W); returns the same shape."""
        centred = x - x.mean(dim=1, keepdim=True)
        variance = centred.pow(2).mean(dim=1, keepdim=True)
        normalised = centred / torch.sqrt(variance + self.eps)
        return self.weight[:, None, None] * normalised + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return f'{self.weight.shape[0]}, eps={self.eps}'
