"""The house rules of the code layout, checked on the source itself.

* Imports point down: tools → apis → engine / parity → models, datasets,
  evaluation (which do not import each other) → fileio, ops, utils,
  visualization, registry.  ``ext/`` imports nothing of ``seg``; the toy-data
  generator ``seg.toy_data`` is for tools and tests only.
* A registered component lives in the file named for it, so a config's
  ``type='DAVISEvalDataset'`` is found in ``davis_eval_dataset.py``.
"""
import ast
import inspect
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Layer of each top-level part; a module may import its own part or a lower layer (any part of layer 0 from layer 0).
LAYERS = {
    'ext': 0, 'registry': 0, 'version': 0, 'fileio': 0, 'ops': 0, 'utils': 0, 'visualization': 0,
    'models': 1, 'datasets': 1, 'evaluation': 1,
    'engine': 2, 'parity': 2,
    'apis': 3,
    'toy_data': 1,
}


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path, root: Path) -> Iterator[Tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    module = _module_name(path, root)
    package = module if path.name == '__init__.py' else module.rpartition('.')[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target


def _part(module: str) -> str:
    """``seg.models.xmem.xmem`` → ``models``; ``seg`` → ``seg``; ``ext.sam`` → ``ext``."""
    parts = module.split('.')
    return parts[0] if parts[0] != 'seg' or len(parts) == 1 else parts[1]


def _upward_imports(root: Path = REPO) -> List[str]:
    found = []
    for path in sorted(list((root / 'seg').rglob('*.py')) + list((root / 'ext').rglob('*.py'))):
        source = _module_name(path, root)
        if source == 'seg':  # the package's own __init__ sets up the backend and checkpoint safety
            continue
        src = _part(source)
        for line, target in _imports(path, root):
            if target.split('.')[0] not in ('seg', 'ext'):
                continue
            dst = _part(target)
            where = f'{path.relative_to(root)}:{line} imports {target}'
            if src == 'ext':
                if target.split('.')[0] == 'seg':
                    found.append(f'{where} (ext/ stands alone; register its components in seg/models)')
                continue
            if dst == src or target == 'seg' or LAYERS[src] == LAYERS[dst] == 0:
                continue  # ``import seg`` only runs the package's set-up
            if dst == 'toy_data':
                found.append(f'{where} (the toy-data generator is for tools and tests only)')
            elif LAYERS[dst] >= LAYERS[src]:
                found.append(f'{where} ({src} may only import lower layers)')
    return found


def test_imports_point_down():
    assert set(LAYERS) | {'__init__'} >= {p.stem for p in (REPO / 'seg').iterdir() if not p.name.startswith('_')
                                          and (p.is_dir() or p.suffix == '.py')}, 'give the new part a layer'
    assert _upward_imports() == []


def test_the_import_check_sees_an_upward_edge(tmp_path):
    fake = tmp_path / 'seg' / 'models' / 'bad.py'
    fake.parent.mkdir(parents=True)
    fake.write_text('from seg.apis import track\nfrom ..datasets import x\nfrom seg.fileio import palette\n')
    (tmp_path / 'ext').mkdir()
    (tmp_path / 'ext' / 'x.py').write_text('import seg.registry\n')
    found = _upward_imports(tmp_path)
    assert len(found) == 3, found
    assert any('imports seg.apis' in f for f in found) and any('imports seg.datasets ' in f for f in found)
    assert any(f.startswith('ext/x.py') for f in found)


def _squash(name: str) -> str:
    return name.replace('_', '').lower()


def _registered() -> Dict[str, List[Tuple[str, object]]]:
    import seg  # noqa: F401
    from seg import registry
    out = {}
    for attr in dir(registry):
        reg = getattr(registry, attr)
        if attr == 'PARITY_RUNNERS' or type(reg).__name__ != 'Registry':
            continue
        reg.import_from_location()
        out[attr] = list(reg.module_dict.items())
    return out


def test_every_registered_component_lives_in_the_file_named_for_it():
    wrong: Set[str] = set()
    checked = 0
    for role, items in _registered().items():
        for name, obj in items:
            module = getattr(obj, '__module__', '')
            if not module.startswith(('seg.', 'ext.')) or module.startswith('seg.ops.'):
                continue  # seg.ops registers its fallbacks under mmcv's op names on purpose
            checked += 1
            stem = Path(inspect.getsourcefile(obj)).stem
            if _squash(stem) != _squash(name):
                wrong.add(f'{role} {name!r} lives in {Path(inspect.getsourcefile(obj)).relative_to(REPO)}')
    assert checked > 40
    assert sorted(wrong) == []


@pytest.mark.parametrize('family', ['rapsam', 'xmem', 'tmo', 'e2fgvi', 'flow'])
def test_model_families_have_their_own_folders(family):
    assert (REPO / 'seg' / 'models' / family / '__init__.py').is_file()
