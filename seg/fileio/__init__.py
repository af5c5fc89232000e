"""Reading and writing what FastSAM2 works on: frames (videos, folders, zips), masks, checkpoints, atomic outputs,
plain-data pickles.

Nothing here imports another part of ``seg`` except the registries' neighbours
at the bottom (``ops``, ``utils``): models, datasets, evaluation, apis and tools
all read and write through this package.
"""
from .atomic import atomic_path, atomic_write_bytes, atomic_write_text, temp_sibling, write_json_atomic
from .checkpoint import CorruptCheckpointError, UntrustedCheckpointError, load_local_checkpoint
from .errors import InputError
from .flow_files import (FLOW_DTYPES, FLOW_SUFFIXES, FlowFileError, flow_pair_names, read_flo, read_flow, write_flo,
                         write_flow)
from .frames import (IMAGE_SUFFIXES, VIDEO_FORMATS, FolderFrames, FolderWriter, FrameSource, FrameSourceError,
                     VideoFrames, VideoWriter, ZipFrames, open_frames)
from .palette import VOID_ID, PaletteMaskError, binarise_gt, davis_palette, read_palette_png, write_palette_png
from .panoptic_png import id2rgb, load_panoptic_png, rgb2id
from .plain_pickle import PlainDataUnpickler, PlainPickleError, load_plain_pickle

__all__ = [
    'atomic_path', 'atomic_write_bytes', 'atomic_write_text', 'temp_sibling', 'write_json_atomic',
    'CorruptCheckpointError', 'UntrustedCheckpointError', 'load_local_checkpoint', 'InputError',
    'FLOW_DTYPES', 'FLOW_SUFFIXES', 'FlowFileError', 'flow_pair_names', 'read_flo', 'read_flow', 'write_flo',
    'write_flow', 'IMAGE_SUFFIXES',
    'VIDEO_FORMATS', 'FolderFrames', 'FolderWriter', 'FrameSource', 'FrameSourceError', 'VideoFrames', 'VideoWriter',
    'ZipFrames', 'open_frames',
    'VOID_ID', 'PaletteMaskError', 'binarise_gt', 'davis_palette', 'read_palette_png', 'write_palette_png', 'id2rgb',
    'load_panoptic_png', 'rgb2id', 'PlainDataUnpickler', 'PlainPickleError', 'load_plain_pickle'
]
