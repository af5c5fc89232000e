"""Load one of mmcv's pure-PyTorch op files without running ``mmcv/ops/__init__.py``.

``mmcv-lite`` ships every ``mmcv/ops/*.py``; the package ``__init__`` fails on
the missing extension, but some files (``point_sample``, ``merge_cells``,
``corner_pool``) never touch it.  Reusing them keeps mmcv's exact code.
"""
import importlib.util
import types
from pathlib import Path


def load_mmcv_op_file(name: str) -> types.ModuleType:
    """Execute ``mmcv/ops/<name>.py`` as a module named ``mmcv.ops.<name>``.

    The module is not put in ``sys.modules``; relative imports inside it
    (``from ..cnn import ConvModule``) resolve against the real ``mmcv``.
    """
    mmcv_dir = Path(importlib.util.find_spec('mmcv').origin).parent
    path = mmcv_dir / 'ops' / f'{name}.py'
    if not path.is_file():
        raise ImportError(f'{path} not found: the installed mmcv/mmcv-lite does not ship mmcv/ops/{name}.py')
    spec = importlib.util.spec_from_file_location(f'mmcv.ops.{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
