"""Training machinery: hooks, loops and optimiser-wrapper constructors register on import."""
from . import hooks, loops, optimizers  # noqa: F401
