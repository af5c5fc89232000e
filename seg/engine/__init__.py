"""Training machinery: the runner, hooks, loops, optimiser wrappers and their constructors register on import."""
from . import hooks, loops, optimizers, runner  # noqa: F401
