from .sync_bn import SyncBatchNorm

__all__ = ['SyncBatchNorm']
