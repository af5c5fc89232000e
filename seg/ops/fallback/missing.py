"""Placeholders for mmcv ops that have no fallback.

Importing one always works; calling or instantiating it raises
:class:`MissingOpError`, which names the op and how to get compiled mmcv.
"""
import types

import torch.nn as nn

HOW_TO_GET_COMPILED = (
    'install mmcv with compiled ops for this torch: `bash tools/misc/build_mmcv_ops.sh` '
    '(builds mmcv 2.1.0 from source, -std=c++20 on torch >= 2.10), or `pip install mmcv==2.1.0` '
    'from a wheel index that matches your torch/CUDA')


class MissingOpError(RuntimeError):
    """An mmcv op was called that needs ``mmcv._ext`` and has no FastSAM2 fallback."""


def _raise(name: str):
    raise MissingOpError(
        f'mmcv.ops.{name} needs the compiled mmcv extension (mmcv._ext), which is not loaded, '
        f'and FastSAM2 has no fallback for it. To use it, {HOW_TO_GET_COMPILED}.')


def missing_op(name: str) -> type:
    """A class standing in for ``mmcv.ops.<name>``: usable in ``isinstance``, raises when called."""

    def __init__(self, *args, **kwargs):
        _raise(name)

    return type(name, (nn.Module,), {'__init__': __init__, '__doc__': f'Missing op {name}.',
                                     '__module__': 'mmcv.ops'})


def missing_op_module(fullname: str) -> types.ModuleType:
    """A module whose every public attribute is a :func:`missing_op` placeholder."""
    module = types.ModuleType(fullname)
    module.__getattr__ = lambda attr: _module_getattr(fullname, attr)
    return module


def _module_getattr(fullname: str, attr: str):
    if attr.startswith('__'):
        raise AttributeError(attr)
    return missing_op(f'{fullname.rsplit(".", 1)[-1]}.{attr}' if fullname.count('.') > 1 else attr)
