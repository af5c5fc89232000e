from .mm_distributed_data_parallel import MMDistributedDataParallel

__all__ = ['MMDistributedDataParallel']
