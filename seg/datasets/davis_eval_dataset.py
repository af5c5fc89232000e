"""Whole DAVIS sequences for VOS evaluation (tools/test.py): every frame with its ground truth and palette."""
from pathlib import Path
from typing import List

import numpy as np
from torch.utils.data import Dataset

from seg.registry import DATASETS
from seg.fileio.palette import read_palette_png
from .vos_clip_dataset import VOSDataError, normalise_frames, read_rgb


@DATASETS.register_module()
class DAVISEvalDataset(Dataset):
    """One item per sequence of ``ImageSets/2017/<split>.txt`` (DAVIS layout, 480p folders).

    Items: ``frames`` (T, 3, H, W) ImageNet-normalised, ``gt`` (T, H, W) uint8 palette ids (the first
    frame's ids are the objects to track), ``palette`` (256, 3) uint8, ``frame_names``, ``name``. A
    sequence is held in memory whole (DAVIS sequences are ≤ 104 frames); long videos go through
    ``seg.apis.track``, which streams.
    """

    def __init__(self, data_root: str, split: str = 'val'):
        root = Path(data_root)
        listing = root / 'ImageSets' / '2017' / f'{split}.txt'
        if not listing.is_file():
            raise VOSDataError(f'{listing} not found: is {root} a DAVIS 2017 root?')
        self.im_root, self.gt_root = root / 'JPEGImages' / '480p', root / 'Annotations' / '480p'
        self.names: List[str] = listing.read_text().split()

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        masks = sorted((self.gt_root / name).glob('*.png'))
        if not masks:
            raise VOSDataError(f'no annotations for {name} in {self.gt_root}')
        frames, gt, palette = [], [], None
        for mask in masks:
            frames.append(read_rgb(self.im_root / name / f'{mask.stem}.jpg', 'frame'))
            ids, mask_palette = read_palette_png(mask)
            if ids.shape != frames[-1].shape[:2]:
                raise VOSDataError(f'{name}/{mask.name}: mask {ids.shape} and frame {frames[-1].shape[:2]} differ')
            gt.append(ids)
            palette = mask_palette if palette is None else palette
        return dict(frames=normalise_frames(np.stack(frames)), gt=np.stack(gt), palette=palette,
                    frame_names=[m.stem for m in masks], name=name)
