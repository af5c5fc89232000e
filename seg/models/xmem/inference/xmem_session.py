"""One XMem tracking session: the per-frame loop that :class:`~seg.models.xmem.XMemVOS` and ``seg.apis.track`` drive.

::

    session = XMemSession(network, inference_config)
    for t, image in enumerate(frames):                        # (3, H, W) ImageNet-normalised RGB
        ids = session.step(image, given.get(t), end=t == last)  # (H, W) uint8 object ids

The masks are object-id maps as users and datasets store them (palette PNG
values, any ids in 1..254); :class:`ObjectManager` maps them to XMem's labels
1..N and back, :class:`XMemInferenceCore` keeps the memories.
"""
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .inference_core import TrackingInputError, XMemInferenceCore
from .object_manager import ObjectManager, as_object_ids


class XMemSession:
    """Track the objects of one video frame by frame, from id masks given on any frame.

    Frame 0 must come with ids. A later mask may bring new objects (they are
    tracked from that frame on, as in YouTube-VOS); objects a later mask does
    not show keep being predicted. One session holds one video: start a new
    session for the next.

    Args:
        network: an :class:`~seg.models.xmem.XMem`; it is put in eval mode, and frames and
            masks are moved to the device of its parameters.
        inference_config: overrides of
            :data:`~seg.models.xmem.inference.DEFAULT_INFERENCE_CONFIG` (e.g. ``max_internal_size``).
    """

    def __init__(self, network, inference_config: Optional[dict] = None):
        #: Sensory, working and long-term memory and the frame counter of this video.
        self.core = XMemInferenceCore(network.eval(), inference_config)
        #: The given object ids ↔ XMem's labels 1..N; grows with every mask that shows new ids.
        self.objects = ObjectManager()
        #: Frames stepped so far, i.e. the index of the next frame.
        self.num_frames = 0
        #: Where the network runs; frames and masks are moved here.
        self.device = next(network.parameters()).device

    @torch.no_grad()
    def step(self, image: Tensor, ids: Optional[np.ndarray] = None, end: bool = False) -> np.ndarray:
        """Segment the next frame.

        Args:
            image: (3, H, W) float32 ImageNet-normalised RGB, on any device.
            ids: (H, W) object ids given on this frame (0 background, 255 void; see
                :func:`~.object_manager.as_object_ids`), or None.
            end: this is the video's last frame: nothing is memorised (the result is the same).

        Returns:
            (H, W) uint8 object ids, the argmax of XMem's probabilities (0 = background); on a frame
            with ``ids``, the pixels of the objects it shows keep their given ids.

        Raises:
            TrackingInputError: ``ids`` that are no (H, W) map of ids in 0..255, of another size than the
                frame or showing no object, no ids on frame 0, a frame of another size than the first.
        """
        image = image.to(self.device)
        if ids is None:
            prob = self.core.step(image, end=end)
        else:
            ids = as_object_ids(ids, self.num_frames)
            size = tuple(image.shape[-2:])
            if ids.shape != size:
                raise TrackingInputError(f'mask of frame {self.num_frames} is {"x".join(map(str, ids.shape))} but '
                                         f'the frames are {size[0]}x{size[1]}; give masks at the frame size')
            mask, valid_labels = self.objects.add_mask(ids)
            self.core.set_all_labels(self.objects.labels)
            prob = self.core.step(image, mask.to(self.device), valid_labels, end=end)
        self.num_frames += 1
        return self.objects.to_ids(prob)
