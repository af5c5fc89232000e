"""Ground truth of a video clip as clip-level segments (one mask tube per object or stuff class)."""
from typing import List, Optional, Tuple

import torch
from mmengine.structures import InstanceData, PixelData
from torch import Tensor


def video_panoptic_gt(frames: List[InstanceData], sem_segs: List[Optional[PixelData]], num_things: int,
                      num_stuff: int) -> Tuple[Tensor, Tensor]:
    """Merge per-frame ground truth of one clip into mask tubes.

    Args:
        frames: T per-frame instances with ``labels`` (n_t,), ``masks`` (BitmapMasks
            or (n_t, H, W) tensor) and ``instances_ids`` (n_t,) linking objects across frames.
        sem_segs: T semantic maps (1, H, W) (thing ids < num_things, stuff ids
            after them, 255 void), or Nones when training without stuff.
        num_things: number of thing classes.
        num_stuff: number of stuff classes.

    Returns:
        labels (M,) int64 — things (by first appearance of their id) then stuff
        classes present in any frame — and masks (M, T, H, W) int64 in {0, 1}; an
        object absent from a frame has an empty mask there.
    """
    device = frames[0].labels.device
    masks = [f.masks if isinstance(f.masks, Tensor) else f.masks.to_tensor(torch.bool, device) for f in frames]
    height, width = masks[0].shape[-2:]
    ids = [f.instances_ids.tolist() for f in frames]
    order, labels = [], {}
    for frame, frame_ids in zip(frames, ids):
        for label, obj in zip(frame.labels.tolist(), frame_ids):
            if obj not in labels:
                order.append(obj)
                labels[obj] = label
            elif labels[obj] != label:
                raise ValueError(f'object id {obj} has classes {labels[obj]} and {label} in one clip; '
                                 'an id must keep its class across frames')
    tubes = torch.zeros(len(order), len(frames), height, width, dtype=torch.bool, device=device)
    for t, frame_ids in enumerate(ids):
        for row, obj in enumerate(frame_ids):
            tubes[order.index(obj), t] = masks[t][row].bool()
    tube_labels = [labels[obj] for obj in order]
    if sem_segs and sem_segs[0] is not None:
        sem = torch.stack([s.sem_seg.squeeze(0) for s in sem_segs])
        for label in torch.unique(sem).tolist():
            if num_things <= label < num_things + num_stuff:
                tubes = torch.cat([tubes, (sem == label)[None]])
                tube_labels.append(label)
    return torch.tensor(tube_labels, dtype=torch.long, device=device), tubes.long()
