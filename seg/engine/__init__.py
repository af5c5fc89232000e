"""Training machinery: the runner, hooks, loops and optimiser-wrapper constructors register on import."""
from . import hooks, loops, optimizers, runner  # noqa: F401
