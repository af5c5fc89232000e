"""Whole DAVIS sequences for single-object (DAVIS-2016 style) evaluation of unsupervised VOS, e.g. TMO.

Two layouts:

* ``davis2016``: the DAVIS 2016 release. ``ImageSets/480p/<split>.txt`` lists
  ``/JPEGImages/480p/<seq>/<frame>.jpg /Annotations/480p/<seq>/<frame>.png`` pairs;
  the masks are grey, every non-zero pixel is the object.
* ``davis2017``: a DAVIS 2017 root, as TMO's own test reads DAVIS-16 val
  (``ImageSets/2016/val.txt`` in the 2017 release): ``ImageSets/<year>/<split>.txt``
  lists sequence names, the masks are palette ids and all objects merge into one
  foreground (255 stays void: :class:`~seg.evaluation.metrics.DAVISMetric` ignores it).

``auto`` picks ``davis2016`` when its listing exists, else ``davis2017``.

Optical flow images (optional): ``<root>/<flow_dir>/<seq>/<frame>.jpg`` or ``.png``,
one per frame, named like the frames — TMO's pre-processed data puts RAFT flow
images at ``JPEGFlows/480p``. Without ``flow_dir`` the model computes flow itself.
"""
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from seg.registry import DATASETS
from seg.fileio.palette import PaletteMaskError, binarise_gt, davis_palette, read_palette_png
from .vos_clip_dataset import VOSDataError, read_rgb

LAYOUTS = ('auto', 'davis2016', 'davis2017')
FLOW_SUFFIXES = ('.jpg', '.png')


@DATASETS.register_module()
class DAVIS16EvalDataset(Dataset):
    """One item per sequence: RGB frames (not normalised), one binary ground truth per frame, optional flow images.

    Args:
        data_root: DAVIS 2016 or DAVIS 2017 root.
        split: listing name (``val``).
        layout: ``auto``, ``davis2016`` or ``davis2017`` (see the module docstring).
        year: ``ImageSets/<year>`` of the ``davis2017`` layout (TMO: ``2016``; the toy data: ``2017``).
        resolution: frame folder (``480p``).
        flow_dir: folder of flow images relative to ``data_root`` (``JPEGFlows/480p``), or None.

    Items: ``frames`` (T, 3, H, W) uint8 RGB, ``gt`` (T, H, W) uint8 (0 background, 1 object, 255 void),
    ``flows`` (T, 3, H, W) uint8 RGB (only with ``flow_dir``), ``palette`` (256, 3) uint8,
    ``frame_names``, ``name``.
    """

    def __init__(self, data_root: str, split: str = 'val', layout: str = 'auto', year: str = '2016',
                 resolution: str = '480p', flow_dir: Optional[str] = None):
        if layout not in LAYOUTS:
            raise VOSDataError(f'layout must be one of {LAYOUTS}, got {layout!r}')
        self.root = Path(data_root)
        if not self.root.is_dir():
            raise VOSDataError(f'DAVIS root {self.root} not found')
        listing16 = self.root / 'ImageSets' / resolution / f'{split}.txt'
        listing17 = self.root / 'ImageSets' / str(year) / f'{split}.txt'
        if layout == 'auto':
            layout = 'davis2016' if listing16.is_file() else 'davis2017'
        listing = listing16 if layout == 'davis2016' else listing17
        if not listing.is_file():
            raise VOSDataError(f'{listing} not found: a DAVIS 2016 root has {listing16.relative_to(self.root)}, a '
                               f'DAVIS 2017 root {listing17.relative_to(self.root)}')
        self.layout = layout
        self.names: List[str] = self._sequences(listing)
        if not self.names:
            raise VOSDataError(f'{listing} lists no sequence')
        self.im_root = self.root / 'JPEGImages' / resolution
        self.gt_root = self.root / 'Annotations' / resolution
        for folder in (self.im_root, self.gt_root):
            if not folder.is_dir():
                raise VOSDataError(f'{folder} not found under the DAVIS root {self.root}')
        self.flow_root = None
        if flow_dir is not None:
            self.flow_root = self.root / flow_dir
            if not self.flow_root.is_dir():
                raise VOSDataError(f'flow folder {self.flow_root} not found (TMO\'s data keeps RAFT flow images in '
                                   f'JPEGFlows/480p); set flow_dir=None to compute flow in the model')

    def _sequences(self, listing: Path) -> List[str]:
        lines = [line.split() for line in listing.read_text().splitlines() if line.strip()]
        if self.layout == 'davis2017':
            return [line[0] for line in lines]
        names = []
        for line in lines:
            parts = line[0].strip('/').split('/')
            if len(parts) < 2:
                raise VOSDataError(f'{listing}: cannot read a sequence from {line[0]!r} (expected '
                                   f'/JPEGImages/480p/<seq>/<frame>.jpg)')
            if parts[-2] not in names:
                names.append(parts[-2])
        return names

    def __len__(self) -> int:
        return len(self.names)

    def _gt(self, path: Path):
        """Binary ground truth and the mask's palette (None for a grey mask)."""
        if self.layout == 'davis2016':
            # DAVIS 2016 masks are grey (0 / 255): any non-zero pixel is the object, there is no void.
            try:
                with Image.open(path) as im:
                    ids = np.array(im if im.mode == 'P' else im.convert('L'))
            except OSError as err:
                raise VOSDataError(f'cannot read mask {path}: {err}') from None
            return binarise_gt(ids, void=False), None
        try:
            ids, palette = read_palette_png(path)
        except PaletteMaskError as err:
            raise VOSDataError(str(err)) from None
        return binarise_gt(ids), palette

    def _flows(self, name: str, stems: List[str], size) -> torch.Tensor:
        folder = self.flow_root / name
        if not folder.is_dir():
            raise VOSDataError(f'no flow images for {name}: {folder} is missing')
        found = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in FLOW_SUFFIXES}
        if len(found) != len(stems):
            raise VOSDataError(f'{name}: {len(stems)} frames but {len(found)} flow images in {folder}; one flow '
                               f'image per frame is needed (the last frame included)')
        flows = []
        for stem in stems:
            if stem not in found:
                raise VOSDataError(f'{name}: no flow image {stem}.jpg/.png in {folder}')
            flow = read_rgb(found[stem])
            if flow.shape[:2] != size:
                raise VOSDataError(f'{name}/{found[stem].name}: flow image {flow.shape[:2]} and frame {size} differ')
            flows.append(flow)
        return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous()

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        frame_paths = sorted((self.im_root / name).glob('*.jpg'))
        if not frame_paths:
            raise VOSDataError(f'no frames for {name} in {self.im_root / name}')
        frames, gt, palette = [], [], None
        for path in frame_paths:
            frames.append(read_rgb(path))
            mask = self.gt_root / name / f'{path.stem}.png'
            if not mask.is_file():
                raise VOSDataError(f'{name}: no annotation {mask.name} in {mask.parent} for frame {path.name}')
            ids, mask_palette = self._gt(mask)
            gt.append(ids)
            palette = mask_palette if palette is None else palette
            if gt[-1].shape != frames[-1].shape[:2]:
                raise VOSDataError(f'{name}/{mask.name}: mask {gt[-1].shape} and frame {frames[-1].shape[:2]} '
                                   f'differ')
            if frames[-1].shape != frames[0].shape:
                raise VOSDataError(f'{name}/{path.name}: frame {frames[-1].shape[:2]} differs from the first '
                                   f'frame {frames[0].shape[:2]}')
        stems = [p.stem for p in frame_paths]
        item = dict(frames=torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous(), gt=np.stack(gt),
                    palette=davis_palette() if palette is None else palette, frame_names=stems, name=name)
        if self.flow_root is not None:
            item['flows'] = self._flows(name, stems, frames[0].shape[:2])
        return item
