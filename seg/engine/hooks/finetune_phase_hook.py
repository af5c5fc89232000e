"""XMem's fine-tuning phase: the last iterations of a run train without per-frame rotation/shear."""
from mmengine.hooks import Hook

from seg.registry import HOOKS
from .max_skip_curriculum_hook import clip_datasets


@HOOKS.register_module()
class FinetunePhaseHook(Hook):
    """From ``start_iter`` on, call ``set_finetune(True)`` on every training clip dataset.

    XMem trains ``iterations`` with the full augmentation and then ``finetune`` more (10k in stages
    2 and 3) with the per-frame affine off, to train the sensory memory on smoother motion.

    Args:
        start_iter: first iteration of the phase (XMem stage 3: 100000 of 110000).
    """

    def __init__(self, start_iter: int):
        self.start_iter = start_iter

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        finetune = runner.iter >= self.start_iter
        for dataset in clip_datasets(runner.train_dataloader.dataset):
            if hasattr(dataset, 'set_finetune') and dataset.finetune != finetune:
                dataset.set_finetune(finetune)
