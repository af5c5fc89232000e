"""FastSAM2's VOS samples from DAVIS 2017 folders: a clip (or a whole video) as a ``TrackDataSample``.

Per item, ``inputs`` (T, 3, H, W) uint8 BGR (what ``PackDetInputs`` gives an
image, so one data preprocessor normalises images and clips alike) and
``data_samples``, a ``TrackDataSample`` of T ``DetDataSample`` frames. The
objects are the ids on the clip's first frame; the first frame carries them as
mask prompts, every frame as targets.
"""
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.structures import InstanceData

from seg.fileio.palette import VOID_ID, read_palette_png
from seg.registry import DATASETS
from .vos_clip_dataset import MAX_TRIALS, MaxSkipDataset, VOSDataError, pick_frames, read_rgb


@DATASETS.register_module()
class VOSTrackDataset(MaxSkipDataset):
    """DAVIS 2017 videos as FastSAM2 VOS samples.

    Layout: ``JPEGImages/<resolution>/<video>/<frame>.jpg``,
    ``Annotations/<resolution>/<video>/<frame>.png`` (palette PNGs, 0
    background, 255 void, else object ids), videos of
    ``ImageSets/2017/<split>.txt``. Every frame needs its annotation; a
    missing frame or annotation, or one whose size differs from the video's
    first frame, is a :class:`~seg.datasets.vos_clip_dataset.VOSDataError`
    (an ``InputError``) naming the file.

    Frames: with ``num_frames`` T, a training clip picked as XMem picks them
    (:func:`~seg.datasets.vos_clip_dataset.pick_frames`: each frame within
    ``max_skip`` of an earlier pick, in time order or reversed; re-drawn up to 5
    times while its first frame shows no object); ``MaxSkipCurriculumHook``
    may change ``max_skip`` during a run. With ``num_frames=None``, the whole
    video in order (validation and test). Videos shorter than T are left out.

    Objects: the ids on the clip's first frame (objects entering later are
    not tracked: they are in no frame's ``gt_instances``), in increasing id
    order; a training clip keeps a random ``max_objects`` of them. A whole
    video keeps every one. A training clip whose first frame shows no object
    after the re-draws has K = 0.

    Item:

    * ``inputs``: (T, 3, H, W) uint8 BGR.
    * ``data_samples``: ``TrackDataSample`` with metainfo ``video_name``,
      ``frame_names`` (T frame stems, clip order), ``video_length`` (frames of
      the whole video) and ``palette`` ((256, 3) uint8 of the annotations, or
      None for grey PNGs); ``video_data_samples`` are T ``DetDataSample`` with
      metainfo ``img_path``, ``ori_shape`` = ``img_shape`` = (H, W),
      ``scale_factor`` (1.0, 1.0) and ``frame_id`` (the frame's index in the
      video), and ``gt_instances`` with ``masks`` (K, H, W) bool (empty where
      the object is absent) and ``instances_ids`` (K,) int64 (the palette
      ids). The first frame also has ``prompts`` with ``masks`` (K, H, W) bool,
      equal to its ``gt_instances.masks``.

    Args:
        data_root: DAVIS root.
        split: ``ImageSets/2017/<split>.txt`` lists the videos.
        num_frames: T, frames per training clip; None for whole videos in order.
        max_skip: largest gap between picked frames of a clip.
        max_objects: most objects of a training clip (a random subset); None for all.
        resolution: the ``JPEGImages`` / ``Annotations`` sub-folder.
        repeat: times the video list is repeated per epoch.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 num_frames: Optional[int] = 8,
                 max_skip: int = 5,
                 max_objects: Optional[int] = None,
                 resolution: str = '480p',
                 repeat: int = 1):
        if num_frames is not None and num_frames < 1:
            raise ValueError(f'num_frames must be >= 1 or None (whole videos), got {num_frames}')
        if max_objects is not None and max_objects < 1:
            raise ValueError(f'max_objects must be >= 1 or None (all objects), got {max_objects}')
        root = Path(data_root)
        listing = root / 'ImageSets' / '2017' / f'{split}.txt'
        if not listing.is_file():
            raise VOSDataError(f'{listing} not found: is {root} a DAVIS 2017 root?')
        self.im_root, self.gt_root = root / 'JPEGImages' / resolution, root / 'Annotations' / resolution
        self.num_frames, self.max_objects = num_frames, max_objects
        self.frames: Dict[str, List[str]] = {}
        for name in listing.read_text().split():
            stems = self._list_video(name, listing)
            if num_frames is None or len(stems) >= num_frames:
                self.frames[name] = stems
        if not self.frames:
            raise VOSDataError(f'no video of {listing} has {num_frames} frames')
        self.videos = sorted(self.frames) * repeat
        super().__init__(max_skip)

    def _list_video(self, name: str, listing: Path) -> List[str]:
        """The frame stems of a video of ``listing``, checked to have one annotation each."""
        frames = {p.stem for p in (self.im_root / name).glob('*.jpg')}
        masks = {p.stem for p in (self.gt_root / name).glob('*.png')}
        if not frames:
            raise VOSDataError(f'no frames (*.jpg) in {self.im_root / name}, a video {listing} lists')
        if frames != masks:
            stem = min(frames ^ masks)
            if stem in frames:
                missing, present = self.gt_root / name / f'{stem}.png', self.im_root / name / f'{stem}.jpg'
                what = 'annotation'
            else:
                missing, present = self.im_root / name / f'{stem}.jpg', self.gt_root / name / f'{stem}.png'
                what = 'frame'
            raise VOSDataError(f'{name}: {len(frames)} frames but {len(masks)} annotations; {what} {missing} is '
                               f'missing (for {present}): every frame needs its palette PNG')
        return sorted(frames)

    def __len__(self) -> int:
        return len(self.videos)

    def _read_ids(self, name: str, stem: str,
                  shape: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(H, W) uint8 ids and the palette of a frame's annotation, checked to be ``shape`` when given."""
        path = self.gt_root / name / f'{stem}.png'
        ids, palette = read_palette_png(path)
        if shape is not None and ids.shape != shape:
            raise VOSDataError(f'annotation {path} is {ids.shape[1]}x{ids.shape[0]} but the video\'s frames are '
                               f'{shape[1]}x{shape[0]} (W x H): re-export it at the frame size')
        return ids, palette

    def _read_frame(self, name: str, stem: str, shape: Tuple[int, int]) -> np.ndarray:
        """(H, W, 3) uint8 RGB of a frame, checked to be ``shape``."""
        path = self.im_root / name / f'{stem}.jpg'
        rgb = read_rgb(path, 'frame')
        if rgb.shape[:2] != shape:
            raise VOSDataError(f'frame {path} is {rgb.shape[1]}x{rgb.shape[0]} but the video\'s first annotation is '
                               f'{shape[1]}x{shape[0]} (W x H): all frames and annotations of a video share one size')
        return rgb

    @staticmethod
    def _objects(ids: np.ndarray) -> List[int]:
        """The object ids of a frame, increasing (no background, no void)."""
        return [int(i) for i in np.unique(ids) if i not in (0, VOID_ID)]

    def __getitem__(self, index: int) -> dict:
        name = self.videos[index]
        stems = self.frames[name]
        if self.num_frames is None:
            picked = list(range(len(stems)))
            first_ids, palette = self._read_ids(name, stems[0])
            objects = self._objects(first_ids)
        else:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
            for _ in range(MAX_TRIALS):
                picked = pick_frames(len(stems), self.num_frames, self.max_jump, rng)
                first_ids, palette = self._read_ids(name, stems[picked[0]])
                objects = self._objects(first_ids)
                if objects:
                    break
            if self.max_objects is not None and len(objects) > self.max_objects:
                objects = sorted(rng.choice(objects, size=self.max_objects, replace=False).tolist())
        shape = first_ids.shape
        object_ids = torch.tensor(objects, dtype=torch.long)
        frames, samples = [], []
        for t, frame_index in enumerate(picked):
            stem = stems[frame_index]
            ids = first_ids if t == 0 else self._read_ids(name, stem, shape)[0]
            frames.append(self._read_frame(name, stem, shape))
            masks = torch.from_numpy(ids).long()[None] == object_ids[:, None, None]
            sample = DetDataSample(metainfo=dict(img_path=str(self.im_root / name / f'{stem}.jpg'), ori_shape=shape,
                                                 img_shape=shape, scale_factor=(1.0, 1.0), frame_id=frame_index))
            sample.gt_instances = InstanceData(masks=masks, instances_ids=object_ids.clone())
            if t == 0:
                sample.prompts = InstanceData(masks=masks.clone())
            samples.append(sample)
        bgr = np.ascontiguousarray(np.stack(frames)[..., ::-1].transpose(0, 3, 1, 2))
        track = TrackDataSample(metainfo=dict(video_name=name, frame_names=[stems[i] for i in picked],
                                              video_length=len(stems), palette=palette))
        track.video_data_samples = samples
        return dict(inputs=torch.from_numpy(bgr), data_samples=track)
