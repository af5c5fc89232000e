"""Mask tracking with XMem's memory network (:class:`~seg.models.xmem.inference.XMemSession`) behind the tracker API."""
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch
import torch.nn as nn

from seg.models.xmem import XMem, XMemCheckpointError, load_xmem_checkpoint
from seg.models.xmem.inference import TrackingInputError, XMemSession
from seg.registry import MODELS

#: XMem's input normalisation (ImageNet statistics of RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@MODELS.register_module()
class XMemTracker:
    """Track object masks with XMem: the given masks are memorised, later frames read the memory.

    Masks of several objects are written into one id map (a pixel claimed twice
    goes to the larger id). A removed object stays in XMem's memory (it cannot
    forget one object) but is no longer reported.

    Args:
        network: a built :class:`~seg.models.xmem.XMem`; or ``checkpoint``, a local XMem file.
        checkpoint: the released ``XMem.pth`` (or an XMemVOS checkpoint of ``tools/train.py``).
        device: where a network built from ``checkpoint`` runs.
        inference_config: overrides of XMem's memory settings (e.g. ``max_internal_size``).
    """

    def __init__(self, network: Optional[nn.Module] = None, checkpoint: Optional[Union[str, Path]] = None,
                 device: Union[str, torch.device] = 'cpu', inference_config: Optional[dict] = None):
        if network is None:
            if checkpoint is None:
                raise TrackingInputError('XMemTracker needs network= or checkpoint= (the released XMem.pth)')
            try:
                network = XMem.from_state_dict(load_xmem_checkpoint(checkpoint)).to(device)
            except XMemCheckpointError as err:
                raise TrackingInputError(f'{checkpoint}: {err}') from None
        self.network = network.eval()
        self.inference_config = inference_config
        self.reset()

    def reset(self) -> None:
        """Forget every object (a new video, or a new pass)."""
        #: XMem's memories of this pass; built on the first frame with masks.
        self.session: Optional[XMemSession] = None
        #: Ids of the objects reported (given and not removed).
        self.objects = set()

    def remove(self, obj_id: int) -> None:
        """Stop reporting ``obj_id`` (no error when it is not tracked)."""
        self.objects.discard(obj_id)

    def step(self, frame: np.ndarray, new_masks: Optional[Dict[int, np.ndarray]] = None) -> Dict[int, np.ndarray]:
        """Masks of every tracked object on the next frame.

        Args:
            frame: (H, W, 3) uint8 RGB.
            new_masks: {object id (1..254): (H, W) bool} given on this frame; they are memorised.

        Returns:
            {object id: (H, W) bool} for every object given so far and not removed; on the frame where
            an object is given, its given mask (less pixels a larger id's mask claims).
        """
        ids = None
        if new_masks:
            ids = np.zeros(frame.shape[:2], np.uint8)
            for obj in sorted(new_masks):
                if not 1 <= obj <= 254:
                    raise TrackingInputError(f'XMem takes object ids 1..254; got {obj}')
                ids[np.asarray(new_masks[obj], bool)] = obj
            self.objects.update(int(obj) for obj in new_masks)
        if self.session is None:
            if ids is None:
                return {}
            self.session = XMemSession(self.network, self.inference_config)
        image = torch.from_numpy(np.array(frame, np.uint8)).permute(2, 0, 1).float() / 255
        image = (image - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        predicted = self.session.step(image, ids)
        return {obj: predicted == obj for obj in sorted(self.objects)}
