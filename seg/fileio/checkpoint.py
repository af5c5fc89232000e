"""Checkpoints that save atomically and load safely on torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default, and mmengine
0.10.7's own checkpoints no longer load: their ``message_hub`` holds
``HistoryBuffer`` objects and numpy arrays/scalars.  We allow-list exactly
those globals (:data:`MMENGINE_CHECKPOINT_GLOBALS`) instead of turning safe
loading off.  A file that needs anything else fails with
:class:`UntrustedCheckpointError`, naming the global and the switch that
trusts the file (``--trust-checkpoint`` on the tools, or the environment
variable ``FASTSAM2_TRUST_CHECKPOINTS=1``).

Local writes through mmengine's file backend (checkpoints, ``last_checkpoint``)
go to a temporary file in the same folder, are flushed to disk and then renamed
over the target, so a process killed mid-save leaves the previous files intact.
"""
import os
import os.path as osp
import pickle
import re
from pathlib import Path
from typing import List, Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from .atomic import atomic_write_bytes

#: Environment variable that makes :func:`load_local_checkpoint` use full pickle.
TRUST_ENV = 'FASTSAM2_TRUST_CHECKPOINTS'


def _numpy_globals() -> List:
    """numpy's pickle entry points, under the module names numpy 1 and 2 write."""
    reconstruct = np._core.multiarray._reconstruct if hasattr(np, '_core') else np.core.multiarray._reconstruct
    scalar = np._core.multiarray.scalar if hasattr(np, '_core') else np.core.multiarray.scalar
    entries = [np.dtype, np.ndarray]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(reconstruct, f'{module}._reconstruct'), (scalar, f'{module}.scalar')]
    # numpy >= 1.25 pickles a dtype as its class from ``numpy.dtypes``.
    for code in '?bBhHiIlLqQefdgFDG':
        dtype_cls = type(np.dtype(code))
        if dtype_cls is not np.dtype:
            entries.append(dtype_cls)
    return entries


#: The statistics every HistoryBuffer registers (more are added by ``register_statistics``).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner, name: str):
    """Stand-in for ``getattr`` while unpickling: resolves only ``HistoryBuffer``'s statistics methods.

    A ``HistoryBuffer`` pickles the functions in its ``_statistics_methods``
    (``min``, ``max``, ``current``, ``mean``) as ``getattr(HistoryBuffer, name)``.
    Allow-listing the real ``getattr`` would let a file reach any attribute of any
    allowed object; this one refuses everything else.
    """
    if owner is HistoryBuffer and (name in HISTORY_BUFFER_STATISTICS or name in HistoryBuffer._statistics_methods):
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'Unsupported global: GLOBAL getattr({owner!r}, {name!r})')


#: What mmengine 0.10.7's checkpoints (model, optimiser, schedulers, message hub) need.
MMENGINE_CHECKPOINT_GLOBALS = [HistoryBuffer, (history_buffer_method, '__builtin__.getattr'),
                               (history_buffer_method, 'builtins.getattr')] + _numpy_globals()


class UntrustedCheckpointError(RuntimeError):
    """A checkpoint needs globals outside the allow-list to unpickle."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file cannot be unpickled at all."""


def load_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint with safe unpickling, or with full pickle if trusted.

    Args:
        filename (str): Path to a ``.pth`` file.
        map_location: As for :func:`torch.load`.

    Returns:
        dict: The unpickled checkpoint.

    Raises:
        FileNotFoundError: The file does not exist.
        UntrustedCheckpointError: The file needs globals we do not allow-list.
        CorruptCheckpointError: The file is not a readable checkpoint.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} not found; check the path (tools take it as '
                                'CKPT, configs as load_from=...)')
    if os.environ.get(TRUST_ENV) == '1':
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r'Unsupported global: GLOBAL (\S+)', str(err))
        if found is None:
            cause = re.search(r'WeightsUnpickler error: (.+)', str(err))
            raise _corrupt(filename, cause.group(1) if cause else str(err).splitlines()[0]) from None
        raise UntrustedCheckpointError(
            f'{filename} needs {found.group(1)} to unpickle, which is not among the objects FastSAM2 allows '
            f'in checkpoints (mmengine\'s own need only HistoryBuffer and numpy values). If you '
            f'trust this file, pass --trust-checkpoint to the tool or set {TRUST_ENV}=1: it is then '
            f'loaded with full pickle, which can run code stored in the file.') from None
    except RuntimeError as err:
        if 'PytorchStreamReader' not in str(err):
            raise
        raise _corrupt(filename, str(err).split('.')[0]) from None


def _corrupt(filename: str, cause: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(f'{filename} is not a readable torch checkpoint; it may be truncated or '
                                  f'corrupt (re-download or re-save it). Reader said: {cause}')


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with :meth:`put` and :meth:`put_text` made atomic."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


_installed = False


def install_checkpoint_safety() -> None:
    """Allow-list mmengine's checkpoint globals and route local saves/loads through this module."""
    global _installed
    if _installed:
        return
    torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_local_checkpoint)
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    _installed = True
