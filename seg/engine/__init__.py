"""Training machinery: hooks, loops and optimizer-wrapper constructors register on import."""
from . import hooks, loops, optimizers  # noqa: F401
