"""FastSAM2: segment, track and remove objects in video, on mmengine/mmdet.

Importing :mod:`seg` first makes ``mmcv.ops`` importable (compiled mmcv when it
loads, our fallbacks otherwise; see :mod:`seg.ops`), then allow-lists what
mmengine's own checkpoints need under torch's safe loading.  Import it before
anything imports ``mmdet.models``.
"""
import warnings

from .ops.backend import select_backend

# mmdet 3.3's point generators call torch.meshgrid without ``indexing`` (its old default, 'ij', is what they
# mean); the warning says nothing a FastSAM2 user can act on.
warnings.filterwarnings('ignore', message=r'torch\.meshgrid: in an upcoming release', category=UserWarning)

select_backend()

from .fileio.checkpoint import install_checkpoint_safety  # noqa: E402
from .version import __version__  # noqa: E402

install_checkpoint_safety()

__all__ = ['__version__', 'select_backend']
