"""Training clips for memory-based VOS (XMem), from DAVIS 2017 or YouTube-VOS folders, sampled as XMem does.

Per item: ``num_frames`` frames of one video, each within ``max_jump`` of an
already picked one, in time order (reversed with probability 0.5); up to
``max_num_obj`` objects of the first picked frame (re-drawn up to 5 times when
it shows none). Augmentation as XMem's: one horizontal flip, random resized crop
(scale 0.36–1) and colour jitter / greyscale for the whole clip, then a small
random affine (±15°, shear 10) and a faint colour jitter per frame.

Layouts: DAVIS (``JPEGImages/480p/<seq>``, ``Annotations/480p/<seq>``, sequences
of ``ImageSets/2017/<split>.txt``) and YouTube-VOS (``<split>/JPEGImages/<vid>``,
``<split>/Annotations/<vid>``, every video); XMem divides the frame-gap budget by
5 for YouTube-VOS, whose frames are already 5 apart.
"""
import multiprocessing
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import BaseDataElement
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from seg.registry import DATASETS
from seg.fileio.palette import read_palette_png
from seg.fileio.errors import InputError

#: ImageNet statistics (RGB in [0, 1]): the affine fill colour, and the normalisation of evaluation frames
#: (``VOSDataPreprocessor`` normalises training clips with the same numbers).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Draws of a clip before giving up on finding an object in its first frame.
MAX_TRIALS = 5
#: YouTube-VOS frames are 5 apart: XMem divides the frame-gap budget by this.
YTVOS_SKIP_DIVISOR = 5


def normalise_frames(rgb: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 RGB → (..., 3, H, W) float32, ImageNet-normalised (XMem's input)."""
    image = torch.from_numpy(np.require(rgb, requirements=['C', 'W'])).movedim(-1, -3).float() / 255
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (image - mean) / std


class VOSDataError(InputError):
    """A VOS folder is missing, empty or inconsistent."""


def read_rgb(path: Path, what: str = 'image') -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; a :class:`VOSDataError` naming the ``what`` at ``path`` if undecodable."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert('RGB'))
    except (OSError, SyntaxError, ValueError) as err:
        raise VOSDataError(f'cannot read {what} {path}: {err}; replace it (re-extract the video\'s frames) or '
                           f'remove it') from None


def pack_clip(frames: torch.Tensor, ids: torch.Tensor, labels: Sequence[int], max_num_obj: int,
              metainfo: dict) -> dict:
    """A training item of XMem's clip datasets: ``inputs`` and a data sample of the picked objects.

    Args:
        frames: (T, 3, H, W) uint8 RGB, augmented, not normalised.
        ids: (T, H, W) int64 object ids of the frames.
        labels: ids of the objects to track (at most ``max_num_obj``), in channel order.
        max_num_obj: object channels of the sample.
        metainfo: ``name`` (video or image) and ``frame_names`` (T names).

    Returns:
        ``inputs``: ``frames``; ``data_samples``: a ``BaseDataElement`` with ``first_frame_gt``
        (1, N, H, W) int64 0/1 (object k's mask on frame 0), ``cls_gt`` (T, 1, H, W) int64 (0 background,
        k + 1 for object k), ``selector`` (N,) float32 (1 for the objects present) and the metainfo plus
        ``num_objects`` (filled channels, at least 1).
    """
    num_frames, height, width = ids.shape
    cls_gt = torch.zeros(num_frames, 1, height, width, dtype=torch.int64)
    first_frame_gt = torch.zeros(1, max_num_obj, height, width, dtype=torch.int64)
    for k, label in enumerate(labels):
        cls_gt[:, 0][ids == label] = k + 1
        first_frame_gt[0, k] = ids[0] == label
    num_objects = max(1, len(labels))
    selector = torch.tensor([1.0 if k < num_objects else 0.0 for k in range(max_num_obj)])
    sample = BaseDataElement(metainfo=dict(metainfo, num_objects=num_objects), first_frame_gt=first_frame_gt,
                             cls_gt=cls_gt, selector=selector)
    return dict(inputs=frames, data_samples=sample)


class WrappableDataset(Dataset):
    """A plain ``torch`` dataset that mmengine's ``ConcatDataset`` / ``RepeatDataset`` can wrap."""

    @property
    def metainfo(self) -> dict:
        """Empty: the wrappers read it."""
        return {}

    def full_init(self) -> None:
        """Nothing to do (listing happens in ``__init__``); the wrappers call it."""


class MaxSkipDataset(WrappableDataset):
    """A clip dataset whose frame-gap budget ``MaxSkipCurriculumHook`` changes during a run.

    Subclasses set ``skip_divisor`` (frames of the layout per annotated step; 1 for DAVIS) before calling
    ``__init__``.

    Args:
        max_skip: the largest gap between picked frames at the start.
    """

    skip_divisor = 1

    def __init__(self, max_skip: int):
        self._max_jump = multiprocessing.Value('i', 1)
        self.set_max_skip(max_skip)

    def set_max_skip(self, max_skip: int) -> None:
        """The curriculum's frame-gap budget (divided by ``skip_divisor``: 5 for YouTube-VOS, as XMem does).

        Kept in shared memory, so dataloader workers forked before the change see it.
        """
        self._max_jump.value = max(1, max_skip // self.skip_divisor)

    @property
    def max_jump(self) -> int:
        return self._max_jump.value


def pick_frames(length: int, num_frames: int, max_jump: int, rng: np.random.Generator) -> List[int]:
    """XMem's clip: ``num_frames`` distinct frames of ``length``, each within ``max_jump`` of an earlier pick.

    Returns:
        Frame indices in time order, reversed with probability 0.5.
    """
    jump = min(length, max_jump)
    picked = [int(rng.integers(length))]
    allowed = set(range(max(0, picked[0] - jump), min(length, picked[0] + jump + 1))) - set(picked)
    while len(picked) < num_frames:
        picked.append(int(rng.choice(sorted(allowed))))
        allowed |= set(range(max(0, picked[-1] - jump), min(length, picked[-1] + jump + 1)))
        allowed -= set(picked)
    picked.sort()
    return picked[::-1] if rng.random() < 0.5 else picked


@DATASETS.register_module()
class VOSClipDataset(MaxSkipDataset):
    """XMem's training clips.

    Args:
        data_root: DAVIS root or YouTube-VOS root.
        layout: ``davis`` or ``ytvos``.
        split: ``train`` (DAVIS: the ImageSets list; YouTube-VOS: the ``train`` folder).
        num_frames: frames per clip (3 for static/stage 0, 8 for stages 2–3).
        max_jump: largest gap between picked frames (the curriculum changes it: :meth:`set_max_skip`).
        max_num_obj: objects per clip (channels of ``first_frame_gt``).
        crop_size: (H, W) of the random resized crop (XMem: 384×384).
        finetune: no per-frame rotation/shear (XMem's fine-tuning phase; :meth:`set_finetune` switches it
            during a run).
        repeat: times the video list is repeated per epoch.

    Items (:func:`pack_clip`): ``inputs`` (T, 3, H, W) uint8 RGB (``VOSDataPreprocessor`` normalises it)
    and ``data_samples`` with ``first_frame_gt`` (1, N, H, W), ``cls_gt`` (T, 1, H, W), ``selector`` (N,)
    and the metainfo ``name`` (the video), ``frame_names`` (its picked frames), ``num_objects``.
    """

    def __init__(self, data_root: str, layout: str = 'davis', split: str = 'train', num_frames: int = 3,
                 max_jump: int = 5, max_num_obj: int = 3, crop_size: Sequence[int] = (384, 384),
                 finetune: bool = False, repeat: int = 1):
        root = Path(data_root)
        if layout == 'davis':
            self.im_root, self.gt_root = root / 'JPEGImages' / '480p', root / 'Annotations' / '480p'
            listing = root / 'ImageSets' / '2017' / f'{split}.txt'
            if not listing.is_file():
                raise VOSDataError(f'{listing} not found: is {root} a DAVIS 2017 root?')
            names = listing.read_text().split()
        elif layout == 'ytvos':
            self.im_root, self.gt_root = root / split / 'JPEGImages', root / split / 'Annotations'
            if not self.im_root.is_dir():
                raise VOSDataError(f'{self.im_root} not found: is {root} a YouTube-VOS root?')
            names = sorted(p.name for p in self.im_root.iterdir() if p.is_dir())
            self.skip_divisor = YTVOS_SKIP_DIVISOR
        else:
            raise VOSDataError(f'layout must be "davis" or "ytvos", got {layout!r}')
        self.num_frames, self.max_num_obj = num_frames, max_num_obj
        self.crop_size = tuple(crop_size)
        self.frames: Dict[str, List[str]] = {}
        for name in names:
            files = sorted(p.stem for p in (self.im_root / name).glob('*.jpg'))
            if len(files) >= num_frames:
                self.frames[name] = files
        if not self.frames:
            raise VOSDataError(f'no video of {root} ({layout}, {split}) has {num_frames} frames')
        self.videos = sorted(self.frames) * repeat
        super().__init__(max_jump)
        fill = {tv_tensors.Image: [round(255 * m) for m in IMAGENET_MEAN], tv_tensors.Mask: 0}
        self._finetune = multiprocessing.Value('b', bool(finetune))
        self.clip_geometry = v2.Compose([
            v2.RandomHorizontalFlip(), v2.RandomResizedCrop(self.crop_size, scale=(0.36, 1.0), antialias=True)])
        self.clip_colour = v2.Compose([v2.ColorJitter(0.1, 0.03, 0.03, 0), v2.RandomGrayscale(0.05)])
        self.frame_affine = v2.RandomAffine(degrees=15, shear=10, fill=fill)
        self.frame_colour = v2.ColorJitter(0.01, 0.01, 0.01, 0)

    def set_finetune(self, finetune: bool) -> None:
        """Turn the per-frame rotation/shear off (XMem's last 10k iterations); shared with forked workers."""
        self._finetune.value = bool(finetune)

    @property
    def finetune(self) -> bool:
        return bool(self._finetune.value)

    def __len__(self) -> int:
        return len(self.videos)

    def _load(self, name: str, frame: str) -> Tuple[torch.Tensor, torch.Tensor]:
        image = torch.from_numpy(read_rgb(self.im_root / name / f'{frame}.jpg', 'frame').copy()).permute(2, 0, 1)
        ids = read_palette_png(self.gt_root / name / f'{frame}.png')[0]
        if ids.shape != tuple(image.shape[1:]):
            raise VOSDataError(f'{name}/{frame}: mask {ids.shape} and frame {tuple(image.shape[1:])} differ in size')
        return image, torch.from_numpy(ids.astype(np.int64))

    def __getitem__(self, index: int) -> dict:
        name = self.videos[index]
        files = self.frames[name]
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        for _ in range(MAX_TRIALS):
            picked = pick_frames(len(files), self.num_frames, self.max_jump, rng)
            loaded = [self._load(name, files[i]) for i in picked]
            images = tv_tensors.Image(torch.stack([im for im, _ in loaded]))
            masks = tv_tensors.Mask(torch.stack([m for _, m in loaded]))
            images, masks = self.clip_geometry(images, masks)
            images = self.clip_colour(images)
            frames, frame_masks = [], []
            for image, mask in zip(images, masks):
                if not self.finetune:
                    image, mask = self.frame_affine(tv_tensors.Image(image), tv_tensors.Mask(mask))
                frames.append(self.frame_colour(image).as_subclass(torch.Tensor))
                frame_masks.append(mask)
            masks = torch.stack(frame_masks)
            labels = [int(i) for i in masks[0].unique() if int(i) not in (0, 255)]
            if labels:
                break
        if len(labels) > self.max_num_obj:
            labels = sorted(rng.choice(labels, size=self.max_num_obj, replace=False).tolist())
        return pack_clip(torch.stack(frames), masks, labels, self.max_num_obj,
                         dict(name=name, frame_names=[files[i] for i in picked]))
