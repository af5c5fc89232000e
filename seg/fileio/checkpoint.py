"""Checkpoints that save atomically and load safely on torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default, and mmengine
0.10.7's own checkpoints no longer load: their ``message_hub`` holds
``HistoryBuffer`` objects and numpy arrays/scalars.  We allow-list exactly
those globals (:data:`MMENGINE_CHECKPOINT_GLOBALS`) instead of turning safe
loading off.  A file that needs anything else fails with
:class:`UntrustedCheckpointError`, naming the global and the switch that
trusts the file (``--trust-checkpoint`` on the tools).

Trust is an argument of the one load it is for, never process state:
``load_local_checkpoint(path, trust=True)``, or, where mmengine does the loading
(``load_from``, ``resume``), the path written as ``trusted(path)``
(``trusted://<path>``), which only that load sees.

A checkpoint that does not fit its model is an error too (:func:`load_weights`):
missing weights, unexpected ones or other shapes are listed.

Local writes through mmengine's file backend (checkpoints, ``last_checkpoint``)
go to a temporary file in the same folder, are flushed to disk and then renamed
over the target, so a process killed mid-save leaves the previous files intact.
"""
import os.path as osp
import pickle
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from .atomic import atomic_write_bytes
from .errors import InputError

#: Prefix of a checkpoint path that mmengine should load with full pickle (see :func:`trusted`).
TRUSTED_PREFIX = 'trusted://'
#: How torch words a global that safe loading refuses: torch >= 2.10, then older releases.
_BLOCKED_GLOBAL = (re.compile(r'Trying to load unsupported GLOBAL (\S+) whose module'),
                   re.compile(r'Unsupported global: GLOBAL (\S+)'))


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


class UntrustedCheckpointError(InputError):
    """A checkpoint needs globals outside the allow-list to unpickle."""


class CorruptCheckpointError(InputError):
    """A checkpoint file cannot be unpickled at all."""


class CheckpointMismatchError(InputError):
    """A checkpoint's weights do not fit the model they are loaded into."""


def trusted(filename: str) -> str:
    """``filename`` marked for one full-pickle load by mmengine's loader (``load_from`` / ``resume``)."""
    return TRUSTED_PREFIX + str(filename)


def load_local_checkpoint(filename: str, map_location=None, trust: bool = False):
    """Load a local checkpoint with safe unpickling, or with full pickle if trusted.

    Args:
        filename (str): Path to a ``.pth`` file; a ``trusted://`` prefix (:func:`trusted`) means ``trust=True``.
        map_location: As for :func:`torch.load`.
        trust (bool): unpickle fully, for this load only: the file can then run code it holds.

    Returns:
        dict: The unpickled checkpoint.

    Raises:
        FileNotFoundError: The file does not exist.
        UntrustedCheckpointError: The file needs globals we do not allow-list.
        CorruptCheckpointError: The file is not a readable checkpoint.
    """
    filename = str(filename)
    if filename.startswith(TRUSTED_PREFIX):
        filename, trust = filename[len(TRUSTED_PREFIX):], True
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} not found; check the path (tools take it as '
                                'CKPT, configs as load_from=...)')
    try:
        return torch.load(filename, map_location=map_location, weights_only=not trust)
    except pickle.UnpicklingError as err:
        found = next((m for m in (p.search(str(err)) for p in _BLOCKED_GLOBAL) if m), None)
        if found is None:
            cause = re.search(r'WeightsUnpickler error: (.+)', str(err))
            raise _corrupt(filename, cause.group(1) if cause else str(err).splitlines()[0]) from None
        raise UntrustedCheckpointError(
            f'{filename} needs {found.group(1)} to unpickle, which is not among the objects FastSAM2 allows '
            f'in checkpoints (mmengine\'s own need only HistoryBuffer and numpy values). If you '
            f'trust this file, pass --trust-checkpoint to the tool (trust=True in Python): it is then '
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
    CheckpointLoader.register_scheme(prefixes=['', TRUSTED_PREFIX], force=True)(load_local_checkpoint)
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    _installed = True


def model_state_dict(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """The weights of an unpickled checkpoint: its ``state_dict`` entry, or the checkpoint itself if bare.

    DDP's ``module.`` prefix is removed, as mmengine's loader does.
    """
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError('the checkpoint holds no state_dict (a mapping of weight names to tensors)')
    return {re.sub(r'^module\.', '', key): value for key, value in state.items()}


def _listing(what: str, keys: Sequence[str], shown: int = 3) -> str:
    more = f', ... ({len(keys)} in all)' if len(keys) > shown else ''
    return f'{len(keys)} {what} ({", ".join(keys[:shown])}{more})'


def load_weights(model: torch.nn.Module, checkpoint: Mapping, source: str, hint: Optional[str] = None) -> None:
    """Load a checkpoint's weights into ``model``, refusing any that do not fit it exactly.

    The model's own load hooks run first (a model may rename or pad what it is
    given, e.g. a bare generator state_dict or a 4-channel stem), so what is
    compared is what the model would really take.

    Args:
        model: the model (unwrapped) the weights are for.
        checkpoint: the unpickled checkpoint (``state_dict`` entry or bare).
        source: the checkpoint's path, for the message.
        hint: what to do about a mismatch, appended to the message.

    Raises:
        CheckpointMismatchError: weights of the model missing from the checkpoint, weights the model does not
            have, or weights of other shapes; the first few of each are named, with their count.
    """
    try:
        result = model.load_state_dict(model_state_dict(checkpoint), strict=False)
        missing, unexpected, shapes = result.missing_keys, result.unexpected_keys, []
    except RuntimeError as err:
        shapes = [f'{key} {ours} in the model, {theirs} in the file' for key, theirs, ours in re.findall(
            r'size mismatch for (\S+): copying a param with shape torch\.Size\((\[[^\]]*\])\) from checkpoint, '
            r'the shape in current model is torch\.Size\((\[[^\]]*\])\)', str(err))]
        if not shapes:
            raise
        missing, unexpected = [], []
    problems = ([_listing('model weights missing', missing)] if missing else []) + \
               ([_listing('unexpected weights', unexpected)] if unexpected else []) + \
               ([_listing('with other shapes', shapes)] if shapes else [])
    if problems:
        raise CheckpointMismatchError(f'checkpoint {source} does not fit the {type(model).__name__} model: '
                                      + '; '.join(problems) + (f'. {hint}' if hint else '.'))
