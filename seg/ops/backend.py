"""Choose, once per process, where ``mmcv.ops`` comes from.

``mmcv`` (full) ships compiled kernels in ``mmcv._ext``; ``mmcv-lite`` ships
the same Python files without them, so ``import mmcv.ops`` (and with it
``import mmdet.models``) fails.  :func:`select_backend` tries the compiled
package first; when it does not load, it installs :mod:`seg.ops.fallback` under
the name ``mmcv.ops`` (with the submodules mmdet imports from), so every
``from mmcv.ops import X`` in mmdet, mmengine and our code resolves to a
fallback built on ``torchvision.ops`` and plain PyTorch.

Set ``FASTSAM2_OPS=fallback`` to use the fallbacks even where compiled mmcv
loads (to compare the two, or to rule the kernels out when debugging).
"""
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from typing import Optional

#: Names accepted by ``FASTSAM2_OPS``.
BACKENDS = ('mmcv', 'fallback')

_backend: Optional[str] = None
_compiled_error: Optional[str] = None


def _purge(prefix: str) -> None:
    """Forget half-imported modules left behind by a failed import."""
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + '.')]:
        del sys.modules[name]


class _MissingSubmoduleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Make ``import mmcv.ops.<anything>`` succeed with a module of raising stubs.

    Only submodules that :mod:`seg.ops.fallback` does not provide reach this
    finder; their attributes are placeholders that raise
    :class:`~seg.ops.fallback.missing.MissingOpError` when called.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith('mmcv.ops.') and fullname.count('.') == 2:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        from .fallback.missing import missing_op_module
        return missing_op_module(spec.name)

    def exec_module(self, module):
        pass


def _install_fallback() -> None:
    import mmcv

    from . import fallback
    sys.modules['mmcv.ops'] = fallback
    for name in fallback.SUBMODULES:
        sys.modules[f'mmcv.ops.{name}'] = importlib.import_module(f'{fallback.__name__}.{name}')
    mmcv.ops = fallback
    from mmengine.registry import MODELS
    for name, module in fallback.REGISTERED_MODELS.items():
        if MODELS.get(name) is None:
            MODELS.register_module(name, module=module)
    if not any(isinstance(f, _MissingSubmoduleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MissingSubmoduleFinder())


def select_backend() -> str:
    """Make ``mmcv.ops`` importable and return the backend in use.

    Returns:
        str: ``'mmcv'`` when compiled mmcv ops loaded, else ``'fallback'``.
    """
    global _backend, _compiled_error
    if _backend is not None:
        return _backend
    wanted = os.environ.get('FASTSAM2_OPS', 'mmcv')
    if wanted not in BACKENDS:
        raise ValueError(f'FASTSAM2_OPS={wanted!r} is not a known ops backend; use one of {BACKENDS}')
    if wanted == 'mmcv':
        try:
            import mmcv.ops  # noqa: F401
            _backend = 'mmcv'
        except (ImportError, OSError) as err:  # no _ext, or one built for another torch/CUDA
            _compiled_error = f'{type(err).__name__}: {err}'
    else:
        _compiled_error = 'FASTSAM2_OPS=fallback'
    if _backend is None:
        _purge('mmcv.ops')
        _install_fallback()
        _backend = 'fallback'
    from mmengine.logging import print_log
    print_log(f'FastSAM2 ops backend: {describe_backend()}', logger='current')
    return _backend


def describe_backend() -> str:
    """One line saying which ops backend is active and why."""
    if _backend == 'mmcv':
        import mmcv
        return f'compiled mmcv {mmcv.__version__} (mmcv._ext)'
    if _backend == 'fallback':
        return f'FastSAM2 fallbacks (torchvision.ops / PyTorch); compiled mmcv not used: {_compiled_error}'
    return 'not selected yet'


def compiled_ops() -> Optional[types.ModuleType]:
    """Compiled ``mmcv.ops`` when it is the active backend, else ``None``."""
    return sys.modules['mmcv.ops'] if select_backend() == 'mmcv' else None
