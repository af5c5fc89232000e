"""ProPainter's training and test clips: YouTube-VOS or DAVIS frame folders, random or fixed holes, optional flows.

Registered as ``ProPainterDataset`` in :data:`seg.registry.DATASETS`; a
:class:`~seg.datasets.video_inpainting_dataset.VideoInpaintingDataset` (same
sources, annotation files, holes, fixed test masks, windows and seeds) with the
official ProPainter ``core/dataset.py`` sampling. The layout, the same for
YouTube-VOS and DAVIS (each with its own json files)::

    <data_root>/JPEGImages_432_240/<vid>/00000.jpg ...   frames (tools/data/resize_videos.py)
    <data_root>/test_masks/<vid>/00000.png ...           fixed test holes, one per frame (> 0 = hole)
    <data_root>/train.json, test.json                     {vid: num_frames}
    <flow_dir>/<vid>/<a>_<b>_f.flo, <b>_<a>_b.flo        optional flows (tools/data/compute_flow.py)

One item, in mmengine's data contract::

    dict(inputs=(T, 3, H, W) uint8 RGB 0..255,
         data_samples=BaseDataElement(
             masks=(T, 1, H, W) uint8 0/1 (1 = hole),
             flows_forward=(L - 1, 2, H, W) float32 px,   # only with flow_dir
             flows_backward=(L - 1, 2, H, W) float32 px,  # only with flow_dir
             metainfo=dict(video_name, frame_ids=[int] * T, ori_shape=(H0, W0), flipped=bool, reversed=bool)))

What differs from E2FGVI's dataset, following the official ``TrainDataset`` /
``TestDataset``:

* Frames are resized with OpenCV's bilinear interpolation (``cv2.INTER_LINEAR``).
* Training clips are ``num_local_frames`` (official 10) consecutive frames and
  ``num_ref_frames`` (official 6; 1 for the flow completion stage) references;
  videos with no more frames than that are left out when the list is built, as
  the official does (it keeps ``num_frames > num_local_frames + num_ref_frames``),
  using the annotation file's counts when there is one.
* With probability ``reverse_prob`` the local frames play backwards: frames,
  holes and ``frame_ids`` of the local run are reversed, and the flows swap
  direction (the new forward flows are the old backward ones in reverse order,
  and the other way round), so flow ``i`` still maps local frame ``i`` onto ``i + 1``.
* With probability ``flip_prob`` frames, holes and flows are flipped
  left-right, the flows' x component negated. (The official flips frames and
  flows but not its random holes, which are independent of the frames; flipping
  them too keeps every field of the item on one grid.)
* The flows of the local frames: for local frames ``a, b`` (consecutive file
  stems, before reversal) the forward flow ``<a>_<b>_f`` (on ``a``'s grid) and
  the backward flow ``<b>_<a>_b`` (on ``b``'s grid), ``.flo`` (float32
  Middlebury or the official float16) or ``.npy`` (:mod:`seg.fileio.flow_files`).
  A flow has the source frames' size or the output ``size`` and is resized to the
  output with its vectors rescaled (the official ``resize_flow``). In test mode
  every frame of the item is local (T - 1 flows per direction), without flip or reversal.

The official test set lists its videos from the mask folder; here ``ann_file``
(``test.json``) does, and each video's masks must be one PNG per frame.
"""
import os.path as osp
from pathlib import PurePosixPath
from typing import Callable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from seg.datasets.transforms.free_form_masks import random_free_form_masks
from seg.fileio.flow_files import FlowFileError, flow_pair_names, read_flow
from seg.fileio.frames import VideoFrames
from seg.registry import DATASETS
from seg.utils.optical_flow import resize_flow
from .video_inpainting_dataset import (DEFAULT_SIZE, VideoInpaintingDataError, VideoInpaintingDataset,
                                       sample_train_frame_ids)

__all__ = ['ProPainterDataset', 'FLOW_FORMATS']

#: Flow file formats ``flow_format`` may name (the files' suffix without the dot).
FLOW_FORMATS = ('flo', 'npy')
#: Official frame folder of the resized frames.
DEFAULT_FRAME_DIR = 'JPEGImages_432_240'


@DATASETS.register_module()
class ProPainterDataset(VideoInpaintingDataset):
    """ProPainter's clips, holes and optional precomputed flows (see the module docstring).

    Args:
        data_root: Dataset root (``datasets/youtube-vos``, ``datasets/davis``).
        ann_file: ``{vid: num_frames}`` json relative to ``data_root``; ``''`` lists every source in ``frame_dir``.
        frame_dir: Folder of the frame folders, relative to ``data_root``.
        mask_dir: Test mode: folder of the fixed masks (``<vid>/*.png``) relative to ``data_root``; None gives
            random free-form masks fixed by ``seed``.
        flow_dir: Folder of precomputed flows (``<vid>/<a>_<b>_f.<ext>``), relative to ``data_root`` (an
            absolute path stays as it is); None loads no flows.
        flow_format: ``'flo'`` or ``'npy'``.
        size: Output (w, h) in px; None keeps each video's size.
        num_local_frames: Training: consecutive frames per clip (official 10).
        num_ref_frames: Training: reference frames per clip (official 6).
        flip_prob: Training: probability of flipping frames, holes and flows left-right.
        reverse_prob: Training: probability of playing the local frames backwards.
        clip_length: Test mode: consecutive windows of this many frames; None yields whole videos.
        dilate_masks: Test mode: dilate the fixed masks as the official test does.
        seed: None draws each training clip from the global NumPy state; an int fixes every item.
        pipeline: Transforms applied to the item dict.
        test_mode: Whole videos (or windows) with fixed masks instead of random training clips.
        lazy_init: Defer reading the annotations until first use.
        indices: Keep only these items (mmengine's subset).
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str = '',
                 frame_dir: str = DEFAULT_FRAME_DIR,
                 mask_dir: Optional[str] = 'test_masks',
                 flow_dir: Optional[str] = None,
                 flow_format: str = 'flo',
                 size: Optional[Tuple[int, int]] = DEFAULT_SIZE,
                 num_local_frames: int = 10,
                 num_ref_frames: int = 6,
                 flip_prob: float = 0.5,
                 reverse_prob: float = 0.5,
                 clip_length: Optional[int] = None,
                 dilate_masks: bool = True,
                 seed: Optional[int] = None,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None) -> None:
        if flow_format not in FLOW_FORMATS:
            raise ValueError(f'flow_format must be one of {FLOW_FORMATS}, got {flow_format!r}')
        self.flow_root = None if flow_dir is None else osp.join(data_root, flow_dir)
        if self.flow_root is not None and not osp.isdir(self.flow_root):
            raise FlowFileError(f'flow folder {self.flow_root} does not exist: compute the flows with '
                                'tools/data/compute_flow.py, or set flow_dir=None')
        self.flow_suffix = f'.{flow_format}'
        self.reverse_prob = reverse_prob
        super().__init__(data_root, ann_file=ann_file, frame_dir=frame_dir, mask_dir=mask_dir, size=size,
                         num_local_frames=num_local_frames, num_ref_frames=num_ref_frames, flip_prob=flip_prob,
                         clip_length=clip_length, dilate_masks=dilate_masks, seed=seed, pipeline=pipeline,
                         test_mode=test_mode, lazy_init=lazy_init, indices=indices)

    # ------------------------------------------------------------------------------------------
    # Video list
    # ------------------------------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """The videos (or test windows); training keeps those with more than ``num_local + num_ref`` frames."""
        data_list = super().load_data_list()
        if self.test_mode:
            return data_list
        needed = self.num_local_frames + self.num_ref_frames
        kept = [info for info in data_list
                if (info['num_frames'] if info['num_frames'] is not None else self._num_frames(info)) > needed]
        if not kept:
            raise VideoInpaintingDataError(
                f'no video in {self.ann_file or self.frame_root} has more than num_local_frames + num_ref_frames = '
                f'{needed} frames; lower them or add longer videos')
        if len(kept) < len(data_list):
            print_log(f'ProPainterDataset: left out {len(data_list) - len(kept)} of {len(data_list)} videos with '
                      f'{needed} frames or fewer (num_local_frames + num_ref_frames)', logger='current')
        return kept

    # ------------------------------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------------------------------
    def _resize_frame(self, frame: np.ndarray) -> np.ndarray:
        """Official ProPainter resizing: OpenCV bilinear to ``size``."""
        if self.size is None or (frame.shape[1], frame.shape[0]) == self.size:
            return frame
        return cv2.resize(frame, self.size, interpolation=cv2.INTER_LINEAR)

    def _frame_stems(self, info: dict) -> List[str]:
        """The stems of the video's frame files, in playing order (``00000``..; 5-digit indices for video files)."""
        source = self._source(info)
        if isinstance(source, VideoFrames):
            return [f'{i:05d}' for i in range(source.num_frames)]
        return [PurePosixPath(name).stem for name in source.names]

    def _read_flows(self, info: dict, local_ids: Sequence[int], ori_shape: Tuple[int, int],
                    out_shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
        """(L - 1, H, W, 2) float32 forward and backward flows between consecutive ``local_ids``, at ``out_shape``."""
        name = info['video_name']
        folder = osp.join(self.flow_root, name)
        stems = self._frame_stems(info)
        forward, backward = [], []
        for current, following in zip(local_ids[:-1], local_ids[1:]):
            names = flow_pair_names(stems[current], stems[following], self.flow_suffix)
            for file_name, out in zip(names, (forward, backward)):
                path = osp.join(folder, file_name)
                try:
                    flow = read_flow(path)
                except FlowFileError as error:
                    raise FlowFileError(f'video {name!r}: {error} (flow_dir={self.flow_root})') from None
                if flow.shape[:2] not in (tuple(ori_shape), tuple(out_shape)):
                    raise FlowFileError(
                        f'video {name!r}: flow {path} is {flow.shape[0]}x{flow.shape[1]} but the frames are '
                        f'{ori_shape[0]}x{ori_shape[1]} (output {out_shape[0]}x{out_shape[1]}); recompute the flows '
                        'of these frames with tools/data/compute_flow.py')
                out.append(resize_flow(flow, out_shape[0], out_shape[1]))
        empty = np.zeros((0, out_shape[0], out_shape[1], 2), np.float32)
        return (np.stack(forward) if forward else empty), (np.stack(backward) if backward else empty)

    # ------------------------------------------------------------------------------------------
    # Items
    # ------------------------------------------------------------------------------------------
    def prepare_data(self, idx: int) -> dict:
        """Read, sample, reverse, flip and mask one item (see the module docstring), then apply the pipeline."""
        info = self.get_data_info(idx)
        rng = self._item_rng(info)
        name = info['video_name']
        num_frames = self._num_frames(info)
        if self.test_mode:
            frame_ids = info['frame_ids'] if info['frame_ids'] is not None else list(range(num_frames))
            num_local = len(frame_ids)
        else:
            if num_frames < self.num_local_frames + self.num_ref_frames:
                raise VideoInpaintingDataError(
                    f'video {name!r} has {num_frames} frames, fewer than num_local_frames + num_ref_frames = '
                    f'{self.num_local_frames + self.num_ref_frames}; fix its count in {self.ann_file}')
            frame_ids = sample_train_frame_ids(num_frames, self.num_local_frames, self.num_ref_frames, rng)
            num_local = self.num_local_frames
        local_ids = list(frame_ids[:num_local])
        reverse = not self.test_mode and rng.random() < self.reverse_prob
        if reverse:
            frame_ids = local_ids[::-1] + list(frame_ids[num_local:])
        raw = self._read_frames(info, frame_ids)
        ori_shape = raw[0].shape[:2]
        frames = np.stack([self._resize_frame(f) for f in raw])
        out_shape = frames.shape[1:3]
        if self.test_mode and self.mask_root is not None:
            masks = self._read_fixed_masks(info, num_frames, frame_ids, ori_shape, out_shape)
        else:
            masks = random_free_form_masks(num_frames, out_shape[0], out_shape[1], rng)[frame_ids]
        flows = None
        if self.flow_root is not None:
            flows = self._read_flows(info, local_ids, ori_shape, out_shape)
            if reverse:
                flows = (flows[1][::-1], flows[0][::-1])
        flip = not self.test_mode and rng.random() < self.flip_prob
        if flip:
            frames, masks = frames[:, :, ::-1], masks[:, :, ::-1]
            if flows is not None:
                flows = tuple(f[:, :, ::-1] * np.array([-1, 1], np.float32) for f in flows)
        data_sample = BaseDataElement(
            metainfo=dict(video_name=name, frame_ids=list(frame_ids), ori_shape=tuple(ori_shape), flipped=flip,
                          reversed=reverse),
            masks=torch.from_numpy(np.ascontiguousarray(masks))[:, None])
        if flows is not None:
            data_sample.flows_forward = torch.from_numpy(np.ascontiguousarray(flows[0].transpose(0, 3, 1, 2)))
            data_sample.flows_backward = torch.from_numpy(np.ascontiguousarray(flows[1].transpose(0, 3, 1, 2)))
        inputs = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        return self.pipeline(dict(inputs=inputs, data_samples=data_sample))
