from .distributed import MMDistributedDataParallel

__all__ = ['MMDistributedDataParallel']
