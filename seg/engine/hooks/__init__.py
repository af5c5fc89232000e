"""Runner hooks; importing registers them in ``seg.registry.HOOKS``."""
from .max_skip_curriculum_hook import MaxSkipCurriculumHook

__all__ = ['MaxSkipCurriculumHook']
