"""Training machinery: loops and optimizer-wrapper constructors register on import."""
from . import loops, optimizers  # noqa: F401
