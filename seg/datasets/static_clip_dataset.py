"""XMem's stage-0 pretraining clips: one still image and its salient-object mask warped into a short clip.

Each item deforms the same image+mask pair ``num_frames`` times, so the model learns to propagate a mask
through appearance and shape changes before it ever sees a video. Augmentation as XMem's static
stage: for the whole clip a random zoom (scale 0.8–1.5), a horizontal flip, colour jitter
(0.1, 0.05, 0.05, hue 0.05) and greyscale (p 0.05); then per frame an affine warp (±20°, scale 0.9–1.1,
shear 10; bilinear, as torchvision's tensor affine has no bicubic), the shorter side resized (bicubic)
to the crop's shorter side, a random crop (padded with the ImageNet mean if too small), a faint colour
jitter (0.1, 0.05, 0.05) and, with probability 0.33, a smooth random warp of about the size of XMem's
thin-plate spline (12 control points moved by 2 % of the side; here a 3×4 grid of offsets upsampled
bicubically and applied by torchvision's elastic kernel).

Folders: each ``data_roots`` entry is either a folder holding ``<name>.jpg`` images next to their
``<name>.png`` masks (ECSSD, BIG, HRSOD and DUTS as XMem's ``static_data.zip`` ships them), or a dict

* ``image_dir``: the images (``.jpg`` / ``.jpeg``);
* ``mask_dir``: the masks, ``<name>.png`` for ``<name>.jpg`` (default: ``image_dir``); e.g. the
  original DUTS layout ``dict(image_dir='DUTS-TR/DUTS-TR-Image', mask_dir='DUTS-TR/DUTS-TR-Mask')``;
* ``recursive``: also look in sub-folders, masks at the same relative path (FSS-1000's
  ``<class>/<n>.jpg`` + ``<class>/<n>.png``; default False);
* ``repeat``: times this folder's images are listed (XMem: 5 for BIG and HRSOD; default 1).

Masks are binary: grey / RGB masks are foreground where their luminance is at least 128 (XMem's 0.5
threshold), palette masks where their index is non-zero.
"""
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as nnf
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2

from seg.registry import DATASETS
from .vos_clip_dataset import IMAGENET_MEAN, MAX_TRIALS, VOSDataError, WrappableDataset, pack_clip, read_rgb

#: Image suffixes (case-insensitive) that are listed; a mask is the same name with ``MASK_SUFFIX``.
IMAGE_SUFFIXES = ('.jpg', '.jpeg')
MASK_SUFFIX = '.png'
#: Grey level from which a mask pixel is foreground (XMem thresholds masks scaled to [0, 1] at 0.5).
MASK_THRESHOLD = 128


class SmoothElastic(v2.ElasticTransform):
    """torchvision's elastic warp driven by a smooth, low-frequency displacement field.

    ``ElasticTransform`` blurs per-pixel noise with a 2-D Gaussian, whose cost grows with the square of
    its width, so a warp as smooth as XMem's 12-point thin-plate spline would take seconds per frame.
    Here offsets with standard deviation ``scale`` × the image side (per axis) are drawn on a coarse
    ``grid`` (rows, columns) and upsampled bicubically; the warping itself (bilinear for images,
    nearest for masks, ``fill`` outside) is torchvision's.
    """

    def __init__(self, scale: float = 0.02, grid: Tuple[int, int] = (3, 4), fill=0):
        super().__init__(alpha=1.0, sigma=1.0, fill=fill)
        self.scale, self.grid = float(scale), tuple(grid)

    def make_params(self, flat_inputs: list) -> dict:
        height, width = v2.query_size(flat_inputs)
        # Normalised grid coordinates span 2 over a side, so a shift of scale × side is 2 × scale there.
        coarse = torch.randn(1, 2, *self.grid) * (2 * self.scale)
        field = nnf.interpolate(coarse, size=(height, width), mode='bicubic', align_corners=True)
        return dict(displacement=field.permute(0, 2, 3, 1))


def _entry(entry: Union[str, dict], index: int) -> dict:
    if isinstance(entry, (str, Path)):
        entry = dict(image_dir=entry)
    if not isinstance(entry, dict) or 'image_dir' not in entry:
        raise VOSDataError(f'data_roots[{index}] must be a folder or a dict with image_dir, got {entry!r}')
    unknown = set(entry) - {'image_dir', 'mask_dir', 'recursive', 'repeat'}
    if unknown:
        raise VOSDataError(f'data_roots[{index}]: unknown keys {sorted(unknown)} '
                           '(use image_dir, mask_dir, recursive, repeat)')
    image_dir = Path(entry['image_dir'])
    mask_dir = Path(entry.get('mask_dir') or image_dir)
    return dict(image_dir=image_dir, mask_dir=mask_dir, recursive=bool(entry.get('recursive', False)),
                repeat=int(entry.get('repeat', 1)))


def _list_pairs(image_dir: Path, mask_dir: Path, recursive: bool) -> List[Tuple[Path, Path]]:
    """(image, mask) paths of one folder, sorted; every image must have its mask."""
    for folder, what in ((image_dir, 'image'), (mask_dir, 'mask')):
        if not folder.is_dir():
            raise VOSDataError(f'{what} folder {folder} not found (check data_roots and the working directory)')
    files = image_dir.rglob('*') if recursive else image_dir.iterdir()
    images = sorted(p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        where = f'{image_dir} or its sub-folders' if recursive else image_dir
        hint = '' if recursive else '; for images in sub-folders (FSS-1000) set recursive=True'
        raise VOSDataError(f'no image+mask pairs: no {"/".join(IMAGE_SUFFIXES)} images in {where}{hint}')
    masks = mask_dir.rglob(f'*{MASK_SUFFIX}') if recursive else mask_dir.glob(f'*{MASK_SUFFIX}')
    mask_set = {p.relative_to(mask_dir) for p in masks}
    pairs, missing = [], []
    for image in images:
        mask = image.relative_to(image_dir).with_suffix(MASK_SUFFIX)
        (pairs if mask in mask_set else missing).append((image, mask_dir / mask))
    if missing:
        image, mask = missing[0]
        raise VOSDataError(f'{len(missing)} of {len(images)} images in {image_dir} have no mask, e.g. {image} '
                           f'(expected {mask}): add the masks, remove those images, or point mask_dir at '
                           'the folder holding the masks')
    return pairs


def _read_mask(path: Path) -> np.ndarray:
    """(H, W) bool foreground of a mask file."""
    try:
        with Image.open(path) as im:
            if im.mode == 'P':
                return np.asarray(im) != 0
            return np.asarray(im.convert('L')) >= MASK_THRESHOLD
    except (OSError, SyntaxError, ValueError) as err:
        raise VOSDataError(f'cannot read mask {path}: {err} (corrupt or not an image? replace or remove it)'
                           ) from err


@DATASETS.register_module()
class StaticClipDataset(WrappableDataset):
    """XMem's stage-0 clips from still images with binary masks.

    Args:
        data_roots: folders of image+mask pairs (see the module docstring for the entries).
        num_frames: frames per clip (XMem: 3).
        max_num_obj: objects per clip (channels of ``first_frame_gt``). With more than 1, as XMem does,
            0 to ``max_num_obj - 1`` other random images are warped the same way and pasted over the first
            through their masks, each becoming one more object; unused channels stay empty (``selector`` 0).
        crop_size: (H, W) of the output (XMem: 384×384).
        elastic_prob: probability of the smooth warp per frame (XMem: 0.33).
        elastic_scale: its offsets' standard deviation as a fraction of the side (XMem: 0.02).
        repeat: times the whole image list is repeated per epoch.

    Items (as :class:`~seg.datasets.VOSClipDataset`'s, :func:`~seg.datasets.vos_clip_dataset.pack_clip`):
    ``inputs`` (T, 3, H, W) uint8 RGB (``VOSDataPreprocessor`` normalises it) and ``data_samples`` with
    ``first_frame_gt`` (1, N, H, W), ``cls_gt`` (T, 1, H, W), ``selector`` (N,) and the metainfo ``name``
    (the image path), ``frame_names`` (its name per frame), ``num_objects``. Randomness comes from torch's
    global generator (``torch.manual_seed`` repeats an item). A clip whose first frame lost every object
    (cropped out) is drawn again, up to 5 times.
    """

    def __init__(self, data_roots: Sequence[Union[str, dict]], num_frames: int = 3, max_num_obj: int = 1,
                 crop_size: Sequence[int] = (384, 384), elastic_prob: float = 0.33, elastic_scale: float = 0.02,
                 repeat: int = 1):
        if isinstance(data_roots, (str, Path, dict)):
            data_roots = [data_roots]
        if not data_roots:
            raise VOSDataError('data_roots is empty: give at least one folder of image+mask pairs')
        if num_frames < 1 or max_num_obj < 1:
            raise VOSDataError(f'num_frames and max_num_obj must be >= 1, got {num_frames}, {max_num_obj}')
        self.pairs: List[Tuple[Path, Path]] = []
        for i, entry in enumerate(data_roots):
            entry = _entry(entry, i)
            self.pairs += _list_pairs(entry['image_dir'], entry['mask_dir'], entry['recursive']) * entry['repeat']
        self.pairs *= repeat
        self.num_frames, self.max_num_obj = num_frames, max_num_obj
        self.crop_size = tuple(crop_size)
        fill = {tv_tensors.Image: [round(255 * m) for m in IMAGENET_MEAN], tv_tensors.Mask: 0}
        self.clip_geometry = v2.Compose([v2.RandomAffine(degrees=0, scale=(0.8, 1.5), fill=fill),
                                         v2.RandomHorizontalFlip()])
        self.clip_colour = v2.Compose([v2.ColorJitter(0.1, 0.05, 0.05, 0.05), v2.RandomGrayscale(0.05)])
        self.frame_geometry = v2.Compose([
            v2.RandomAffine(degrees=20, scale=(0.9, 1.1), shear=10, interpolation=InterpolationMode.BILINEAR,
                            fill=fill),
            v2.Resize(min(self.crop_size), interpolation=InterpolationMode.BICUBIC, antialias=True),
            v2.RandomCrop(self.crop_size, pad_if_needed=True, fill=fill)])
        self.frame_colour = v2.ColorJitter(0.1, 0.05, 0.05, 0)
        self.frame_warp = v2.RandomApply([SmoothElastic(elastic_scale, fill=fill)], p=elastic_prob)

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[index]
        rgb, mask = read_rgb(image_path), _read_mask(mask_path)
        if mask.shape != rgb.shape[:2]:
            raise VOSDataError(f'mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} px but image {image_path} '
                               f'is {rgb.shape[1]}x{rgb.shape[0]}: they must have the same size')
        return (torch.from_numpy(rgb.copy()).permute(2, 0, 1),
                torch.from_numpy(mask.astype(np.uint8))[None])

    def _clip(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """(T, 3, H, W) uint8 frames and (T, H, W) bool masks of one image."""
        image, mask = self._load(index)
        image, mask = self.clip_geometry(tv_tensors.Image(image), tv_tensors.Mask(mask))
        image = self.clip_colour(image)
        frames, masks = [], []
        for _ in range(self.num_frames):
            frame, frame_mask = self.frame_geometry(image, mask)
            frame = self.frame_colour(frame)
            frame, frame_mask = self.frame_warp(frame, frame_mask)
            frames.append(frame.as_subclass(torch.Tensor))
            masks.append(frame_mask.as_subclass(torch.Tensor)[0] > 0)
        return torch.stack(frames), torch.stack(masks)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        for _ in range(MAX_TRIALS):
            sources = [index, *rng.integers(len(self), size=int(rng.integers(self.max_num_obj))).tolist()]
            frames, ids = None, None
            for k, source in enumerate(sources):
                clip, clip_masks = self._clip(source)
                if frames is None:
                    frames, ids = clip, torch.zeros(clip_masks.shape, dtype=torch.int64)
                else:
                    frames = torch.where(clip_masks[:, None], clip, frames)
                ids[clip_masks] = k + 1
            labels = [int(i) for i in ids[0].unique() if int(i) != 0]
            if labels:
                break
        image_path = self.pairs[index][0]
        return pack_clip(frames, ids, labels, self.max_num_obj,
                         dict(name=str(image_path), frame_names=[image_path.stem] * self.num_frames))
