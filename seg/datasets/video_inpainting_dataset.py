"""Video inpainting clips (E2FGVI's training and test data) from zips, frame folders or video files.

Registered as ``VideoInpaintingDataset`` in :data:`seg.registry.DATASETS`. One
item is one clip of a video with its holes, in mmengine's data contract::

    dict(inputs=(T, 3, H, W) uint8 RGB 0..255,
         data_samples=BaseDataElement(
             masks=(T, 1, H, W) uint8 0/1 (1 = hole),
             metainfo=dict(video_name=str, frame_ids=[int] * T, ori_shape=(H0, W0) px before resizing)))

The frames stay un-normalised; ``VideoInpaintingDataPreprocessor`` maps them to
[-1, 1] and batches the holes for ``VideoInpaintingGAN``.

Sources, looked up per video name under ``<data_root>/<frame_dir>``, in this order,
and read with :func:`seg.fileio.frames.open_frames`:

* ``<vid>.zip``: the E2FGVI layout (the frames, sorted by name, at any depth of the zip);
* ``<vid>/``: a folder of ``*.jpg`` / ``*.png`` frames, sorted by name;
* ``<vid>.mp4`` (``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``): decoded with PyAV.

Frames are decoded with OpenCV, as the official test reader does (its training
reader decodes with PIL; the two JPEG decoders can differ by a grey level).
The video names come from ``ann_file`` (E2FGVI's ``{vid: num_frames}`` json,
relative to ``data_root``; the counts are checked against the sources), or,
without one, from every source found in ``<data_root>/<frame_dir>``.

Training (``test_mode=False``) follows the official ``TrainDataset``:
``num_local_frames`` consecutive frames at a uniform start, then
``num_ref_frames`` distinct other frames in increasing order; the frames are
resized to ``size`` (PIL bicubic, Pillow's default the official gets), flipped
left-right together with probability ``flip_prob`` (the masks are not flipped,
as in the official), and the holes are one random free-form shape, still or
moving (:func:`~seg.datasets.transforms.free_form_masks.random_free_form_masks`),
made for the whole video and indexed like the frames.

Testing (``test_mode=True``) follows the official ``TestDataset``: every frame
of each video (or consecutive windows of ``clip_length`` frames), with the
fixed masks ``<data_root>/<mask_dir>/<vid>/*.png`` (sorted, one per frame, the
frame's original size) resized with nearest neighbour, binarised (> 0) and
dilated as the official test does
(:func:`~seg.datasets.transforms.free_form_masks.dilate_test_mask`). With
``mask_dir=None``, each video gets random free-form masks fixed by ``seed``.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.structures import BaseDataElement
from PIL import Image

from seg.datasets.transforms.free_form_masks import dilate_test_mask, random_free_form_masks
from seg.fileio.errors import InputError
from seg.fileio.frames import IMAGE_SUFFIXES, FrameSource, FrameSourceError, open_frames
from seg.registry import DATASETS

__all__ = ['VideoInpaintingDataset', 'VideoInpaintingDataError', 'sample_train_frame_ids', 'FRAME_EXTENSIONS',
           'VIDEO_EXTENSIONS']

#: Frame and mask image extensions (lower case) read from zips and folders (``seg.fileio``'s).
FRAME_EXTENSIONS = IMAGE_SUFFIXES
#: Video file extensions (lower case) decoded with PyAV.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v')
#: Official model input size (w, h) in px.
DEFAULT_SIZE = (432, 240)
#: Resampling of frames (Pillow's ``resize`` default, which the official code uses) and of fixed masks.
FRAME_RESAMPLE = Image.BICUBIC
MASK_RESAMPLE = Image.NEAREST
#: Seed of the fixed random masks of test videos when neither ``mask_dir`` nor ``seed`` is given.
DEFAULT_TEST_SEED = 0


class VideoInpaintingDataError(InputError):
    """A video's frames, annotation count or masks do not fit together (the message names the video and the fix)."""


def sample_train_frame_ids(num_frames: int, num_local_frames: int, num_ref_frames: int,
                           rng: np.random.Generator) -> List[int]:
    """Official training clip indices: a run of local frames, then sorted reference frames.

    Args:
        num_frames: Frames in the video.
        num_local_frames: Length of the consecutive run, starting uniformly in
            ``[0, num_frames - num_local_frames]``.
        num_ref_frames: Distinct frames outside the run, drawn uniformly without replacement.
        rng: Source of randomness.

    Returns:
        ``num_local_frames + num_ref_frames`` indices: the run, then the references in increasing order.
    """
    if num_frames < num_local_frames + num_ref_frames:
        raise ValueError(f'{num_frames} frames cannot give {num_local_frames} local + {num_ref_frames} '
                         'reference frames')
    start = int(rng.integers(0, num_frames - num_local_frames + 1))
    local = list(range(start, start + num_local_frames))
    others = np.array([i for i in range(num_frames) if not start <= i < start + num_local_frames])
    refs = np.sort(rng.choice(others, num_ref_frames, replace=False)) if num_ref_frames else []
    return local + [int(i) for i in refs]


def _is_frame_name(name: str) -> bool:
    return osp.splitext(name)[1].lower() in FRAME_EXTENSIONS and not osp.basename(name).startswith('.')


@DATASETS.register_module()
class VideoInpaintingDataset(BaseDataset):
    """Clips and holes for training and testing video inpainting (see the module docstring).

    Args:
        data_root: Dataset root.
        ann_file: ``{vid: num_frames}`` json relative to ``data_root`` (e.g.
            ``train.json``, ``test.json``, ``train_small.json``); ``''`` lists
            every source in ``frame_dir``.
        frame_dir: Folder of the sources, relative to ``data_root`` (``''`` for ``data_root`` itself).
        mask_dir: Test mode: folder of the fixed masks (``<vid>/*.png``) relative to
            ``data_root``; None gives random free-form masks fixed by ``seed``.
        size: Output (w, h) in px; None keeps each video's size.
        num_local_frames: Training: consecutive frames per clip (official 5).
        num_ref_frames: Training: reference frames per clip (official 3).
        flip_prob: Training: probability of flipping the clip's frames left-right.
        clip_length: Test mode: split each video into consecutive windows of this
            many frames (the last may be shorter); None yields whole videos.
        dilate_masks: Test mode: dilate the fixed masks as the official test does.
        seed: None draws each training clip from the global NumPy state (which
            mmengine and PyTorch seed per worker), so clips differ every epoch;
            an int fixes every item (the same clip and holes for an index every time).
        pipeline: Transforms applied to the item dict (``inputs`` and ``data_samples``).
        test_mode: Whole videos with fixed masks instead of random training clips.
        lazy_init: Defer reading the annotations until first use.
        indices: Keep only these items (mmengine's subset).
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str = '',
                 frame_dir: str = 'JPEGImages',
                 mask_dir: Optional[str] = 'test_masks',
                 size: Optional[Tuple[int, int]] = DEFAULT_SIZE,
                 num_local_frames: int = 5,
                 num_ref_frames: int = 3,
                 flip_prob: float = 0.5,
                 clip_length: Optional[int] = None,
                 dilate_masks: bool = True,
                 seed: Optional[int] = None,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None) -> None:
        if num_local_frames < 1 or num_ref_frames < 0:
            raise ValueError(f'need num_local_frames >= 1 and num_ref_frames >= 0, got {num_local_frames} and '
                             f'{num_ref_frames}')
        if clip_length is not None and clip_length < 1:
            raise ValueError(f'clip_length must be None or >= 1, got {clip_length}')
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValueError(f'size must be (w, h) in px or None, got {size}')
        self.frame_root = osp.join(data_root, frame_dir)
        self.mask_root = None if mask_dir is None else osp.join(data_root, mask_dir)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.num_local_frames = num_local_frames
        self.num_ref_frames = num_ref_frames
        self.flip_prob = flip_prob
        self.clip_length = clip_length
        self.dilate_masks = dilate_masks
        self.seed = seed
        self._sources: Dict[str, FrameSource] = {}
        super().__init__(ann_file=ann_file, data_root=data_root, pipeline=list(pipeline), test_mode=test_mode,
                         lazy_init=lazy_init, indices=indices)

    # ------------------------------------------------------------------------------------------
    # Video list
    # ------------------------------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """One entry per video (training, or whole test videos) or per test window."""
        if not osp.isdir(self.frame_root):
            raise FileNotFoundError(f'frame folder {self.frame_root} does not exist: check data_root and frame_dir')
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(f'annotation file {self.ann_file} does not exist: check data_root and '
                                        'ann_file ({vid: num_frames} json)')
            with open(self.ann_file, encoding='utf-8') as f:
                counts = json.load(f)
            if not isinstance(counts, dict):
                raise ValueError(f'{self.ann_file} must hold a {{vid: num_frames}} object, got {type(counts).__name__}')
            names = list(counts)
        else:
            counts = {}
            names = self._discover_videos()
        data_list = []
        for video_index, name in enumerate(names):
            source, kind = self._find_source(name)
            info = dict(video_name=name, video_index=video_index, source=source, source_type=kind,
                        num_frames=int(counts[name]) if name in counts else None)
            if self.test_mode and self.clip_length is not None:
                num_frames = self._num_frames(info)
                for start in range(0, num_frames, self.clip_length):
                    data_list.append(dict(info, frame_ids=list(range(start, min(start + self.clip_length,
                                                                                    num_frames)))))
            else:
                data_list.append(dict(info, frame_ids=None))
        return data_list

    def _discover_videos(self) -> List[str]:
        names = set()
        for entry in os.listdir(self.frame_root):
            stem, ext = osp.splitext(entry)
            if ext.lower() == '.zip' or ext.lower() in VIDEO_EXTENSIONS:
                names.add(stem)
            elif osp.isdir(osp.join(self.frame_root, entry)):
                names.add(entry)
        if not names:
            raise FileNotFoundError(f'no videos in {self.frame_root}: expected <vid>.zip, <vid>/ frame folders or '
                                    f'video files ({", ".join(VIDEO_EXTENSIONS)})')
        return sorted(names)

    def _find_source(self, name: str) -> Tuple[str, str]:
        """(path, kind) of a video: kind is 'zip', 'folder' or 'video'."""
        base = osp.join(self.frame_root, name)
        if osp.isfile(base + '.zip'):
            return base + '.zip', 'zip'
        if osp.isdir(base):
            return base, 'folder'
        for ext in VIDEO_EXTENSIONS:
            for candidate in (base + ext, base + ext.upper()):
                if osp.isfile(candidate):
                    return candidate, 'video'
        raise FileNotFoundError(f'video {name!r}: none of {base}.zip, {base}/ or {base}.<video ext> exists; add it or '
                                'remove it from the annotation file')

    # ------------------------------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------------------------------
    def _source(self, info: dict) -> FrameSource:
        """The video's frame source, opened (every image header checked) once per dataset copy."""
        path = info['source']
        if path not in self._sources:
            try:
                self._sources[path] = open_frames(path)
            except FrameSourceError as error:
                raise FrameSourceError(f'video {info["video_name"]!r}: {error}') from None
        return self._sources[path]

    def _num_frames(self, info: dict) -> int:
        """Frames of the video, checked against the annotation file's count when it gives one."""
        actual = self._source(info).num_frames
        if info['num_frames'] is not None and info['num_frames'] != actual:
            raise VideoInpaintingDataError(
                f'video {info["video_name"]!r}: the annotation file says {info["num_frames"]} frames but '
                f'{info["source"]} holds {actual}; fix the count in {self.ann_file} or the source')
        return actual

    def _read_frames(self, info: dict, frame_ids: Sequence[int]) -> List[np.ndarray]:
        """(H, W, 3) uint8 RGB frames at ``frame_ids``, all of one size."""
        try:
            return self._source(info).read(frame_ids)
        except FrameSourceError as error:
            raise FrameSourceError(f'video {info["video_name"]!r}: {error}') from None

    def _resize_frame(self, frame: np.ndarray) -> np.ndarray:
        if self.size is None or (frame.shape[1], frame.shape[0]) == self.size:
            return frame
        return np.asarray(Image.fromarray(frame).resize(self.size, FRAME_RESAMPLE))

    def _read_fixed_masks(self, info: dict, num_frames: int, frame_ids: Sequence[int],
                          ori_shape: Tuple[int, int], out_shape: Tuple[int, int]) -> np.ndarray:
        """(T, H, W) uint8 fixed test masks (1 = hole) at ``frame_ids``, resized to ``out_shape`` (h, w)."""
        name = info['video_name']
        folder = osp.join(self.mask_root, name)
        if not osp.isdir(folder):
            raise FileNotFoundError(f'video {name!r}: mask folder {folder} does not exist; add one PNG per frame or '
                                    'set mask_dir=None for random masks')
        files = sorted(n for n in os.listdir(folder) if _is_frame_name(n))
        if len(files) != num_frames:
            raise VideoInpaintingDataError(f'video {name!r}: {len(files)} masks in {folder} but {num_frames} frames; '
                                           'provide exactly one mask per frame')
        masks = []
        for i in frame_ids:
            with Image.open(osp.join(folder, files[i])) as mask:
                if (mask.height, mask.width) != ori_shape:
                    raise VideoInpaintingDataError(
                        f'video {name!r}: mask {files[i]} is {mask.height}x{mask.width} but the frames are '
                        f'{ori_shape[0]}x{ori_shape[1]}; masks must have the frame size')
                binary = np.asarray(mask.resize((out_shape[1], out_shape[0]), MASK_RESAMPLE).convert('L')) > 0
            masks.append(dilate_test_mask(binary) if self.dilate_masks else binary.astype(np.uint8))
        return np.stack(masks)

    # ------------------------------------------------------------------------------------------
    # Items
    # ------------------------------------------------------------------------------------------
    def _item_rng(self, info: dict) -> np.random.Generator:
        if self.test_mode:
            # Windows of one video share its masks, so the masks depend on the video, not the item.
            seed = DEFAULT_TEST_SEED if self.seed is None else self.seed
            return np.random.default_rng([seed, info['video_index']])
        if self.seed is None:
            return np.random.default_rng(np.random.randint(np.iinfo(np.int64).max))
        return np.random.default_rng([self.seed, info['sample_idx']])

    def prepare_data(self, idx: int) -> dict:
        """Read, sample and mask one item (see the module docstring), then apply the pipeline."""
        info = self.get_data_info(idx)
        rng = self._item_rng(info)
        name = info['video_name']
        num_frames = self._num_frames(info)
        if self.test_mode:
            frame_ids = info['frame_ids'] if info['frame_ids'] is not None else list(range(num_frames))
        else:
            if num_frames < self.num_local_frames + self.num_ref_frames:
                raise VideoInpaintingDataError(
                    f'video {name!r} has {num_frames} frames, fewer than num_local_frames + num_ref_frames = '
                    f'{self.num_local_frames + self.num_ref_frames}; remove it from the annotation file or lower '
                    'num_ref_frames')
            frame_ids = sample_train_frame_ids(num_frames, self.num_local_frames, self.num_ref_frames, rng)
        raw = self._read_frames(info, frame_ids)
        ori_shape = raw[0].shape[:2]
        frames = np.stack([self._resize_frame(f) for f in raw])
        out_shape = frames.shape[1:3]
        if self.test_mode and self.mask_root is not None:
            masks = self._read_fixed_masks(info, num_frames, frame_ids, ori_shape, out_shape)
        else:
            masks = random_free_form_masks(num_frames, out_shape[0], out_shape[1], rng)[frame_ids]
            if not self.test_mode and rng.random() < self.flip_prob:
                frames = frames[:, :, ::-1]
        data_sample = BaseDataElement(
            metainfo=dict(video_name=name, frame_ids=list(frame_ids), ori_shape=tuple(ori_shape)),
            masks=torch.from_numpy(np.ascontiguousarray(masks))[:, None])
        # A (T, 3, H, W) view of the (T, H, W, 3) frames, not a copy: its layout reaches the networks, whose
        # CPU kernels round differently on a contiguous copy, and the E2FGVI numbers were measured on this one.
        inputs = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        return self.pipeline(dict(inputs=inputs, data_samples=data_sample))
