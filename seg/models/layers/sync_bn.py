"""``SyncBN`` that runs anywhere: one process, CPU, or several CPU processes.

``torch.nn.SyncBatchNorm`` raises on CPU inputs as soon as a process group
exists (even of world size 1), and mmengine only swaps it for BatchNorm when the
run is not distributed.  :class:`SyncBatchNorm` keeps torch's CUDA path and its
state_dict layout, and adds:

- no process group, or a group of one process: plain batch norm;
- several processes with CPU tensors (gloo): the per-channel sums are
  all-reduced with the differentiable ``torch.distributed.nn.all_reduce``, so
  statistics and gradients equal those of one big batch.
"""
import torch
import torch.distributed as dist
import torch.nn as nn
from torch import Tensor

from seg.registry import MODELS


def _world_size(group) -> int:
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group or dist.group.WORLD)


class _AllReduceSum(torch.autograd.Function):
    """Sum a tensor over the processes of ``group``; the gradient is summed the same way."""

    @staticmethod
    def forward(ctx, tensor: Tensor, group) -> Tensor:
        ctx.group = group
        total = tensor.clone()
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor):
        total = grad.clone()
        dist.all_reduce(total, group=ctx.group)
        return total, None


@MODELS.register_module('SyncBN')
class SyncBatchNorm(nn.SyncBatchNorm):
    """Cross-process batch norm; same arguments and state_dict as ``nn.SyncBatchNorm``."""

    def forward(self, input: Tensor) -> Tensor:
        """Normalise ``input`` of shape (N, C, *) with statistics over all processes."""
        if not self.training or _world_size(self.process_group) == 1:
            return nn.modules.batchnorm._BatchNorm.forward(self, input)
        if input.device.type != 'cpu':
            return super().forward(input)
        return self._forward_cpu_synced(input)

    def _forward_cpu_synced(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        reduce_dims = [0] + list(range(2, input.dim()))
        count = torch.tensor([input.numel() / input.shape[1]], dtype=input.dtype)
        local = torch.cat([input.sum(reduce_dims), (input * input).sum(reduce_dims), count])
        total = _AllReduceSum.apply(local, self.process_group or dist.group.WORLD)
        channels = input.shape[1]
        n = total[-1]
        mean = total[:channels] / n
        var = total[channels:2 * channels] / n - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)
                            if self.momentum is None else self.momentum)
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = [1, channels] + [1] * (input.dim() - 2)
        out = (input - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out
