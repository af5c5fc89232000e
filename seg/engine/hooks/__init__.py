"""Runner hooks; importing registers them in ``seg.registry.HOOKS``."""
from .finetune_phase_hook import FinetunePhaseHook
from .max_skip_curriculum_hook import MaxSkipCurriculumHook

__all__ = ['FinetunePhaseHook', 'MaxSkipCurriculumHook']
