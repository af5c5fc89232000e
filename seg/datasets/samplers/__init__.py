from .task_batch_sampler import TaskBatchSampler

__all__ = ['TaskBatchSampler']
