"""YouTube-VOS validation/test videos for XMem inference (tools/test.py), read lazily frame by frame.

Layout (the official 2018/2019 release)::

    <data_root>/<split>/JPEGImages/<video>/<frame>.jpg     frames to predict (every 5th frame)
    <data_root>/<split>/Annotations/<video>/<frame>.png    one palette PNG where objects first appear
    <data_root>/<split>/meta.json                          optional: objects and their frames
    <all_frames_root>/JPEGImages/<video>/<frame>.jpg       optional: every frame (``valid_all_frames``)

With ``all_frames_root`` the tracker sees every frame (as XMem's evaluation does) and
only the frames of ``<split>/JPEGImages`` are written; otherwise it sees those frames only.
Objects may first appear on any annotated frame; there is no ground truth to score
against (the server scores the zip that ``YTVOSSubmissionMetric`` writes).
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from seg.registry import DATASETS
from seg.fileio.palette import PaletteMaskError, read_palette_png
from .vos_clip_dataset import VOSDataError, normalise_frames, read_rgb


class LazyFrames:
    """A video's frames, decoded and normalised on access: ``frames[t]`` is (3, H, W) float32.

    Args:
        paths: JPEG paths in time order.
        size: (H, W) every frame must have (that of the annotations).
    """

    def __init__(self, paths: Sequence[Path], size: Sequence[int]):
        self.paths, self.size = list(paths), tuple(size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, t: int) -> torch.Tensor:
        path = self.paths[t]
        rgb = read_rgb(path, 'frame')
        if rgb.shape[:2] != self.size:
            raise VOSDataError(f'frame {path} is {rgb.shape[0]}x{rgb.shape[1]} but the annotations are '
                               f'{self.size[0]}x{self.size[1]}; frames and masks must have one size')
        return normalise_frames(rgb)


@DATASETS.register_module()
class YTVOSEvalDataset(Dataset):
    """One item per video of ``<data_root>/<split>/JPEGImages``.

    Args:
        data_root: YouTube-VOS root (holding ``valid/`` or ``test/``).
        split: ``valid`` or ``test``.
        all_frames_root: folder whose ``JPEGImages/<video>`` hold every frame, or None.

    Items: ``frames`` (:class:`LazyFrames`), ``given_masks`` {frame index: (H, W) uint8 ids},
    ``frame_names`` (all frames seen), ``save_names`` (frames to write), ``palette`` (256, 3)
    uint8, ``name``.
    """

    def __init__(self, data_root: str, split: str = 'valid', all_frames_root: Optional[str] = None):
        root = Path(data_root) / split
        self.im_root, self.gt_root = root / 'JPEGImages', root / 'Annotations'
        for folder in (self.im_root, self.gt_root):
            if not folder.is_dir():
                raise VOSDataError(f'{folder} not found: is {data_root} a YouTube-VOS root with a {split!r} split?')
        self.all_root = None if all_frames_root is None else Path(all_frames_root) / 'JPEGImages'
        if self.all_root is not None and not self.all_root.is_dir():
            raise VOSDataError(f'{self.all_root} not found: all_frames_root must hold JPEGImages/<video>/')
        meta = root / 'meta.json'
        self.meta: Dict = json.loads(meta.read_text())['videos'] if meta.is_file() else {}
        self.names: List[str] = sorted(p.name for p in self.im_root.iterdir() if p.is_dir())
        if not self.names:
            raise VOSDataError(f'{self.im_root} holds no video folders')

    def __len__(self) -> int:
        return len(self.names)

    def _given_masks(self, name: str, frame_names: List[str]) -> Tuple[Dict[int, np.ndarray], np.ndarray]:
        pngs = sorted((self.gt_root / name).glob('*.png'))
        if not pngs:
            raise VOSDataError(f'no annotation PNGs for {name} in {self.gt_root}; the first frame of each object '
                               f'must be annotated')
        index = {frame: t for t, frame in enumerate(frame_names)}
        given, palette = {}, None
        for png in pngs:
            if png.stem not in index:
                raise VOSDataError(f'{png} annotates frame {png.stem!r}, which {name} does not have')
            try:
                ids, png_palette = read_palette_png(png)
            except PaletteMaskError as err:
                raise VOSDataError(str(err)) from None
            given[index[png.stem]] = ids
            palette = png_palette if palette is None else palette
        if 0 not in given:
            raise VOSDataError(f'{name}: the first frame {frame_names[0]} has no annotation (first given: '
                               f'{frame_names[min(given)]}); YouTube-VOS videos start with an annotated frame')
        shapes = {ids.shape for ids in given.values()}
        if len(shapes) > 1:
            raise VOSDataError(f'{name}: annotations have different sizes {sorted(shapes)}')
        self._check_meta(name, given)
        return given, palette

    def _check_meta(self, name: str, given: Dict[int, np.ndarray]) -> None:
        objects = self.meta.get(name, {}).get('objects', {})
        shown = {int(i) for ids in given.values() for i in np.unique(ids) if i not in (0, 255)}
        missing = sorted(int(k) for k in objects if int(k) not in shown)
        if missing:
            raise VOSDataError(f'{name}: meta.json lists objects {missing} that no annotation PNG shows')

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        save_names = sorted(p.stem for p in (self.im_root / name).glob('*.jpg'))
        if not save_names:
            raise VOSDataError(f'{self.im_root / name} holds no JPEG frames')
        folder = self.im_root / name if self.all_root is None else self.all_root / name
        paths = sorted(folder.glob('*.jpg'))
        frame_names = [p.stem for p in paths]
        absent = sorted(set(save_names) - set(frame_names))
        if absent:
            raise VOSDataError(f'{folder} lacks frames {absent[:3]} of {self.im_root / name}; all_frames_root must '
                               f'hold every frame of the split')
        # Frames before the first frame of the split are not tracked (XMem starts there).
        start = frame_names.index(save_names[0])
        given, palette = self._given_masks(name, frame_names[start:])
        return dict(frames=LazyFrames(paths[start:], next(iter(given.values())).shape), given_masks=given,
                    frame_names=frame_names[start:], save_names=save_names, palette=palette, name=name)
