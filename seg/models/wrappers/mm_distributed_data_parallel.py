"""DDP that accepts FastSAM2's CPU-capable ``SyncBN`` when the model is on the CPU."""
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel as MMEngineDDP

from seg.models.layers.sync_bn import SyncBatchNorm
from seg.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module('MMDistributedDataParallel')
class MMDistributedDataParallel(MMEngineDDP):
    """mmengine's DDP wrapper, minus torch's refusal of every ``SyncBatchNorm`` on CPU.

    torch rejects CPU modules holding any ``nn.SyncBatchNorm`` because its own
    synchronisation is CUDA-only. Ours (:class:`~seg.models.layers.SyncBatchNorm`,
    ``type='SyncBN'``) synchronises CPU tensors over gloo, so it is let through;
    torch's own class on CPU is still refused, with the same error.
    """

    def _passing_sync_batchnorm_handle(self, module: nn.Module) -> None:
        if self.device_type != 'cpu':
            return super()._passing_sync_batchnorm_handle(module)
        for layer in module.modules():
            if isinstance(layer, nn.SyncBatchNorm) and not isinstance(layer, SyncBatchNorm):
                self._log_and_throw(ValueError, 'SyncBatchNorm layers only work with GPU modules; on CPU use '
                                    "FastSAM2's norm_cfg=dict(type='SyncBN')")
