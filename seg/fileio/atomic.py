"""Atomic outputs: readers see the old file (or none) or the whole new one, never a half-written file.

Every output FastSAM2 writes goes through :func:`atomic_path`: the content is
written to a hidden temporary sibling (``.<name>.<pid>.<random>.part``, same
folder so the final rename stays on one file system), then renamed over the
target.  On an exception the temporary file or folder is removed; under
:func:`sigterm_exits` a SIGTERM is such an exception.  A process killed outright
(SIGKILL, power loss) leaves its sibling behind: :func:`remove_stale_parts`
removes those of processes that are gone.  :func:`check_writable` tries the
folder before any work is done.
"""
import errno
import json
import os
import re
import secrets
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional, Union

PathLike = Union[str, Path]

#: Suffix of the temporary siblings :func:`atomic_path` creates.
PART_SUFFIX = '.part'
#: What to do about an output a write failed on, by ``errno`` (other than a permission error).
WRITE_HINTS = {
    errno.ENOSPC: 'free some space or write elsewhere',
    errno.EDQUOT: 'free some of your quota or write elsewhere',
    errno.EROFS: 'the file system is read-only; write elsewhere',
}


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_sibling(path: PathLike) -> Path:
    """A fresh hidden name beside ``path``: ``.<name>.<pid>.<random>.part``."""
    path = Path(path)
    return path.parent / f'.{path.name}.{os.getpid()}.{secrets.token_hex(4)}{PART_SUFFIX}'


def _part_pattern(target: Path) -> re.Pattern:
    """Names :func:`temp_sibling` gives beside ``target``; group 1 is the pid."""
    return re.compile(rf'\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]+{re.escape(PART_SUFFIX)}')


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a process on this machine (this one counts; so does one we may not signal)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # above the largest pid: no such process
        return False
    return True


def _remove_dead_parts(folder: Path, pattern: re.Pattern) -> List[Path]:
    """Remove the entries of ``folder`` matching ``pattern`` (group 1: a pid) whose process is gone."""
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        found = pattern.fullmatch(path.name)
        if found and not pid_alive(int(found.group(1))):
            _remove(path)
            removed.append(path)
    return removed


def remove_stale_parts(target: PathLike) -> List[Path]:
    """Remove the temporary siblings of ``target`` whose process is gone (it was killed before it could clean up).

    A sibling ``.<name>.<pid>.<random>.part`` is removed when no process ``pid``
    runs on this machine; those of running processes, this one included, are
    kept.  (Pids are those of this machine: processes on other hosts writing
    into a shared folder under the same name are not told apart.)

    Returns:
        The removed paths.
    """
    target = Path(target)
    return _remove_dead_parts(target.parent, _part_pattern(target))


def remove_stale_parts_in(folder: PathLike) -> List[Path]:
    """:func:`remove_stale_parts` for every target in ``folder`` (e.g. the checkpoints of a work_dir)."""
    return _remove_dead_parts(Path(folder), re.compile(rf'\..+\.(\d+)\.[0-9a-f]+{re.escape(PART_SUFFIX)}'))


def check_writable(target: PathLike) -> None:
    """Create and remove a one-byte temporary sibling of ``target``: fail now rather than after the work.

    The probe goes into ``target``'s folder, or into its nearest existing ancestor
    when that folder does not exist yet (:func:`atomic_path` creates it).

    Raises:
        OSError: the one writing there would meet (``PermissionError``, ``EROFS``,
            ``ENOSPC``, ...), with ``filename`` set to ``target``.
    """
    target = Path(target)
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    probe = temp_sibling(folder / target.name)
    try:
        with open(probe, 'xb') as file:
            file.write(b'\0')
    except OSError as err:
        raise type(err)(err.errno, err.strerror, str(target)) from None
    finally:
        if probe.exists():
            probe.unlink()


@contextmanager
def sigterm_exits() -> Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(143)`` (128 + SIGTERM), so clean-ups run.

    ``atomic_path`` then removes its temporary output and ``finally`` blocks
    close files, as for any exception; a second SIGTERM during that clean-up is
    ignored.  The previous handler is restored on leaving.  Signal handlers can
    only be set in the main thread: elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


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
