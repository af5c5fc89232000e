"""Path confinement: what a request names must stay inside the folder the server allows.

Both checks resolve the path (``..`` and symbolic links included) before
comparing, so neither ``../secret``, an absolute path nor a link pointing out of
the folder gets through.
"""
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Sequence

from seg.fileio.errors import InputError


class PathNotAllowedError(InputError):
    """A requested path is outside the folders the app may read or serve."""


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def confined_file(root: Path, name: str) -> Path:
    """The existing file ``root / name``, refusing names that leave ``root``.

    Args:
        root: the folder files are served from.
        name: a relative, '/'-separated name from a request.

    Raises:
        PathNotAllowedError: ``name`` is empty, absolute, has a ``..`` part or resolves (through links) outside
            ``root``; FileNotFoundError when it is inside but not a file.
    """
    posix = PurePosixPath(name)
    if not name or posix.is_absolute() or PureWindowsPath(name).is_absolute() or '..' in posix.parts \
            or '\\' in name or '\0' in name:
        raise PathNotAllowedError(f'{name!r} is not a plain file name inside the session folder')
    root = root.resolve()
    path = (root / posix).resolve()
    if not _inside(path, root):
        raise PathNotAllowedError(f'{name!r} points outside the session folder')
    if not path.is_file():
        raise FileNotFoundError(f'{name} does not exist (yet): run the step that writes it first')
    return path


def allowed_video_path(path: str, roots: Sequence[Path]) -> Path:
    """The existing file ``path`` (absolute, or relative to the first root) when it lies inside one of ``roots``.

    Raises:
        PathNotAllowedError: no roots are allowed, or ``path`` resolves (through ``..`` or links) outside them.
        FileNotFoundError: ``path`` is inside but not an existing file.
    """
    if not roots:
        raise PathNotAllowedError('opening server-side paths is off: start the app with --video-dir DIR, or '
                                  'upload the video')
    if not path or '\0' in path:
        raise PathNotAllowedError('give the path of a video file')
    resolved_roots = [Path(root).resolve() for root in roots]
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = resolved_roots[0] / candidate
    resolved = candidate.resolve()
    if not any(_inside(resolved, root) for root in resolved_roots):
        allowed = ', '.join(str(root) for root in resolved_roots)
        raise PathNotAllowedError(f'{path} is outside the allowed video folders ({allowed})')
    if not resolved.is_file():
        raise FileNotFoundError(f'{path} is not an existing video file')
    return resolved
