"""Memory-based video object segmentation: XMem (semi-supervised) and TMO (unsupervised)."""
from . import xmem  # noqa: F401,E402  (registers XMem)
from . import tmo  # noqa: F401,E402  (registers TMO)
from .xmem_vos import XMemVOS  # noqa: F401,E402
from .tmo_vos import TMOVOS  # noqa: F401,E402
