"""Atomic outputs: readers see the old file (or none) or the whole new one, never a half-written file.

Every output FastSAM2 writes goes through :func:`atomic_path`: the content is
written to a hidden temporary sibling (``.<name>.<pid>.<random>.part``, same
folder so the final rename stays on one file system), then renamed over the
target.  On an exception the temporary file or folder is removed.
"""
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Union

PathLike = Union[str, Path]

#: Suffix of the temporary siblings :func:`atomic_path` creates.
PART_SUFFIX = '.part'


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_sibling(path: PathLike) -> Path:
    """A fresh hidden name beside ``path``: ``.<name>.<pid>.<random>.part``."""
    path = Path(path)
    return path.parent / f'.{path.name}.{os.getpid()}.{secrets.token_hex(4)}{PART_SUFFIX}'


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_path(target: PathLike, mode: Optional[int] = None, sync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it over ``target``, else remove it.

    The caller creates the file or folder at the yielded path.  A folder target
    must not exist yet (``os.replace`` cannot replace a non-empty folder).

    Args:
        target: the final path; its parent folder is created.
        mode: permission bits given to a file before the rename; default 0666
            less the umask, what ``open()`` gives (a plain ``mkstemp`` file is 0600).
        sync: fsync a file before the rename, so the new content survives a crash.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(target)
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, (0o666 & ~current_umask()) if mode is None else mode)
            if sync:
                with open(tmp, 'rb') as file:
                    os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_bytes(data: bytes, filepath: PathLike) -> None:
    """Write ``data`` to ``filepath`` atomically, flushed to disk before the rename."""
    with atomic_path(filepath, sync=True) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(text: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
    """Write ``text`` to ``filepath`` atomically."""
    atomic_write_bytes(text.encode(encoding), filepath)


def write_json_atomic(path: PathLike, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as indented json to ``path`` atomically (``inf`` is written as ``Infinity``)."""
    atomic_write_text(json.dumps(obj, indent=indent) + '\n', path)
