"""Optical flow files: Middlebury ``.flo`` (float32, or ProPainter's float16 variant) and ``.npy``, and their names.

A ``.flo`` file is the 4 bytes ``PIEH`` (the float32 202021.25, little-endian),
the width and the height as little-endian int32, then the (H, W, 2) flow row by
row, x before y in every pixel.  The Middlebury standard stores float32; the
official ProPainter (``utils/flow_util.py``) writes and reads the same header
with float16 values, halving the disk its precomputed YouTube-VOS flows take.
:func:`read_flo` tells the two apart by the file's size; :func:`write_flo`
writes either.  A ``.npy`` flow holds the same (H, W, 2) array (float16 or
float32, no pickles).

Flows are in pixels of the frames they were computed on, channel 0 = x, 1 = y.
Precomputed flows of a video live in one folder per video and are named after
the frame files' stems, as ProPainter's ``scripts/compute_flow.py`` names them
(:func:`flow_pair_names`): the forward flow from frame ``a`` to the next frame
``b`` (on ``a``'s grid) is ``<a>_<b>_f.flo``, the backward flow from ``b`` to
``a`` (on ``b``'s grid) is ``<b>_<a>_b.flo``.
"""
from pathlib import Path
from typing import Tuple, Union

import numpy as np

from .atomic import atomic_path
from .errors import InputError

#: Header of a ``.flo`` file: the float32 202021.25 as little-endian bytes.
FLO_MAGIC = b'PIEH'
#: Bytes before the flow values: magic, width and height.
FLO_HEADER_BYTES = 12
#: Value types a flow file may hold (ProPainter's float16 first: what its reader expects).
FLOW_DTYPES = ('float16', 'float32')
#: Suffixes of flow files.
FLOW_SUFFIXES = ('.flo', '.npy')
#: Largest side (px) a ``.flo`` header may announce; larger ones are taken as corrupt.
MAX_FLOW_SIDE = 1 << 16

PathLike = Union[str, Path]


class FlowFileError(InputError):
    """A flow file is missing, corrupt, or does not hold an (H, W, 2) flow."""


def flow_pair_names(current: str, following: str, suffix: str = '.flo') -> Tuple[str, str]:
    """File names of the forward and backward flows between two consecutive frames.

    Args:
        current: Stem of the earlier frame's file (``'00000'`` for ``00000.jpg``).
        following: Stem of the next frame's file.
        suffix: ``'.flo'`` or ``'.npy'``.

    Returns:
        ``('<current>_<following>_f<suffix>', '<following>_<current>_b<suffix>')``.
    """
    if suffix not in FLOW_SUFFIXES:
        raise ValueError(f'flow suffix must be one of {FLOW_SUFFIXES}, got {suffix!r}')
    return f'{current}_{following}_f{suffix}', f'{following}_{current}_b{suffix}'


def _check_flow_array(flow: np.ndarray, where: str) -> None:
    if flow.ndim != 3 or flow.shape[2] != 2 or min(flow.shape[:2]) < 1:
        raise FlowFileError(f'{where} holds an array of shape {tuple(flow.shape)}, not an (H, W, 2) flow; '
                            'recompute it with tools/data/compute_flow.py')


def _dtype(dtype: str) -> np.dtype:
    if str(dtype) not in FLOW_DTYPES:
        raise ValueError(f'flow dtype must be one of {FLOW_DTYPES}, got {dtype!r}')
    return np.dtype(str(dtype)).newbyteorder('<')


def read_flo(path: PathLike) -> np.ndarray:
    """Read a ``.flo`` file (float32 Middlebury or ProPainter's float16).

    Args:
        path: The file.

    Returns:
        (H, W, 2) float32 flow in px (x, y).

    Raises:
        FlowFileError: The file is missing, lacks the ``PIEH`` magic, or its size
            fits neither float32 nor float16 values of the announced width and height.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FlowFileError(f'flow file {path} does not exist; compute the flows with tools/data/compute_flow.py'
                            ) from None
    if len(data) < FLO_HEADER_BYTES or data[:4] != FLO_MAGIC:
        raise FlowFileError(f'{path} is not a .flo file (it does not start with {FLO_MAGIC!r}); recompute it with '
                            'tools/data/compute_flow.py')
    width, height = (int(v) for v in np.frombuffer(data, '<i4', 2, offset=4))
    if not (0 < width <= MAX_FLOW_SIDE and 0 < height <= MAX_FLOW_SIDE):
        raise FlowFileError(f'{path} announces a {width}x{height} flow: the file is corrupt; recompute it with '
                            'tools/data/compute_flow.py')
    values = len(data) - FLO_HEADER_BYTES
    count = width * height * 2
    for dtype in FLOW_DTYPES:
        if values == count * np.dtype(dtype).itemsize:
            flow = np.frombuffer(data, _dtype(dtype), count, offset=FLO_HEADER_BYTES)
            return flow.reshape(height, width, 2).astype(np.float32)
    raise FlowFileError(f'{path} announces a {width}x{height} flow but holds {values} bytes of values (float32 '
                        f'needs {count * 4}, float16 {count * 2}): the file is truncated or corrupt; recompute it '
                        'with tools/data/compute_flow.py')


def write_flo(path: PathLike, flow: np.ndarray, dtype: str = 'float32') -> None:
    """Write a ``.flo`` file atomically.

    Args:
        path: The file; its folder is created.
        flow: (H, W, 2) flow in px (x, y).
        dtype: ``'float32'`` (Middlebury) or ``'float16'`` (ProPainter's variant).
    """
    flow = np.asarray(flow)
    _check_flow_array(flow, 'the flow to write')
    height, width = flow.shape[:2]
    header = FLO_MAGIC + np.array([width, height], '<i4').tobytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + np.ascontiguousarray(flow, _dtype(dtype)).tobytes())


def read_flow(path: PathLike) -> np.ndarray:
    """Read a ``.flo`` or ``.npy`` flow file.

    Returns:
        (H, W, 2) float32 flow in px (x, y).

    Raises:
        FlowFileError: The file is missing, unreadable, or not an (H, W, 2) flow.
    """
    path = Path(path)
    if path.suffix == '.flo':
        return read_flo(path)
    if path.suffix != '.npy':
        raise FlowFileError(f'{path}: flow files end in {" or ".join(FLOW_SUFFIXES)}')
    try:
        flow = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FlowFileError(f'flow file {path} does not exist; compute the flows with tools/data/compute_flow.py'
                            ) from None
    except (ValueError, OSError, EOFError) as err:
        raise FlowFileError(f'{path} is not a readable .npy array ({err}); recompute it with '
                            'tools/data/compute_flow.py') from None
    _check_flow_array(flow, str(path))
    if not np.issubdtype(flow.dtype, np.floating):
        raise FlowFileError(f'{path} holds {flow.dtype} values, not a float flow; recompute it with '
                            'tools/data/compute_flow.py')
    return flow.astype(np.float32)


def write_flow(path: PathLike, flow: np.ndarray, dtype: str = 'float32') -> None:
    """Write a flow atomically as ``.flo`` or ``.npy`` (by ``path``'s suffix).

    Args:
        path: The file; its folder is created.
        flow: (H, W, 2) flow in px (x, y).
        dtype: ``'float32'`` or ``'float16'``.
    """
    path = Path(path)
    if path.suffix == '.flo':
        write_flo(path, flow, dtype)
        return
    if path.suffix != '.npy':
        raise ValueError(f'{path}: flow files end in {" or ".join(FLOW_SUFFIXES)}')
    flow = np.asarray(flow)
    _check_flow_array(flow, 'the flow to write')
    with atomic_path(path) as tmp, open(tmp, 'wb') as file:
        np.save(file, np.ascontiguousarray(flow, _dtype(dtype)), allow_pickle=False)
