"""TMO (Cho et al., "Treating Motion as Option"): unsupervised VOS from an RGB frame and an optical-flow image.

Keys equal the current official release (``TMO_rn101.pth``): ``vos.app_encoder.*``,
``vos.mo_encoder.*`` (ResNet-101 + ``mean``/``std`` buffers), ``vos.decoder.*``.
Only the ResNet-101 variant is provided (the MiT-b1 one needs HuggingFace
``transformers`` weights).
"""
from pathlib import Path
from typing import Dict, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.fileio.checkpoint import CorruptCheckpointError, UntrustedCheckpointError, load_local_checkpoint
from seg.registry import MODELS
from .tmo_decoder import TMODecoder
from .tmo_encoder import TMOEncoder

#: Frames and flow images are resized to this square before the network (official 384).
TMO_INPUT_SIZE = 384
#: Adaptive output selection: confidence counts softmax entries below this.
AOS_THRESHOLD = 0.1


class TMOCheckpointError(ValueError):
    """A checkpoint does not fit TMO's layout."""


class TwoStreamSegmenter(nn.Module):
    """The ``vos`` container of TMO's checkpoints: appearance encoder, motion encoder, decoder."""

    def __init__(self):
        super().__init__()
        self.app_encoder = TMOEncoder()
        self.mo_encoder = TMOEncoder()
        self.decoder = TMODecoder()


def aos_confidence(logits: Tensor, threshold: float = AOS_THRESHOLD) -> Tensor:
    """TMO's confidence: sqrt(Σ (threshold − p)²) over all softmax entries p below ``threshold``."""
    prob = torch.softmax(logits, dim=1)
    low = prob[prob < threshold]
    return torch.sum((threshold - low)**2)**0.5


@MODELS.register_module()
class TMO(nn.Module):
    """Two ResNet-101 streams summed per scale, decoded to foreground/background logits.

    Args:
        aos: adaptive output selection (batch 1 only): per frame, decode with the motion stream fed
            the flow image and, again, the RGB frame, and keep the more confident result.
        input_size: side of the square the inputs are resized to (bicubic).
    """

    def __init__(self, aos: bool = False, input_size: int = TMO_INPUT_SIZE):
        super().__init__()
        self.vos = TwoStreamSegmenter()
        self.aos = aos
        self.input_size = input_size

    def segment_frame(self, image: Tensor, flow: Tensor) -> Tensor:
        """(B, 3, s, s) frame and flow image in [0, 1] → (B, 2, s, s) logits, with AOS when enabled and B = 1."""
        app = self.vos.app_encoder(image)
        if not (self.aos and image.shape[0] == 1):
            return self.vos.decoder(app, self.vos.mo_encoder(flow))
        score_img = self.vos.decoder(app, self.vos.mo_encoder(image))
        score_flow = self.vos.decoder(app, self.vos.mo_encoder(flow))
        return score_img if aos_confidence(score_img) > aos_confidence(score_flow) else score_flow

    def forward(self, imgs: Tensor, flows: Tensor) -> Dict[str, Tensor]:
        """Segment clips frame by frame.

        Args:
            imgs: (B, L, 3, H, W) RGB in [0, 1] (not normalised).
            flows: (B, L, 3, H', W') optical flow rendered as RGB in [0, 1] (white = still).

        Returns:
            B > 1: ``scores`` (B, L, 2, H, W) logits; B = 1: ``masks`` (1, L, 1, H, W) int64 argmax.
        """
        if imgs.dim() != 5 or flows.shape[:3] != imgs.shape[:3]:
            raise ValueError(f'imgs and flows must be (B, L, 3, H, W) with the same B, L; got {tuple(imgs.shape)} '
                             f'and {tuple(flows.shape)}')
        batch, length, _, height, width = imgs.shape
        size = (self.input_size, self.input_size)
        imgs = F.interpolate(imgs.flatten(0, 1), size=size, mode='bicubic').unflatten(0, (batch, length))
        flows = F.interpolate(flows.flatten(0, 1), size=size, mode='bicubic').unflatten(0, (batch, length))
        scores = [F.interpolate(self.segment_frame(imgs[:, i], flows[:, i]), size=(height, width), mode='bicubic')
                  for i in range(length)]
        if batch != 1:
            return dict(scores=torch.stack(scores, dim=1))
        masks = [torch.softmax(s, dim=1).max(dim=1, keepdim=True)[1] for s in scores]
        return dict(masks=torch.stack(masks, dim=1))


def convert_tmo_state_dict(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Map the WACV-2023 names (``module.vos.img_encoder`` / ``flow_encoder``) to the current release's."""
    converted = {}
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        key = key.replace('vos.img_encoder.', 'vos.app_encoder.').replace('vos.flow_encoder.', 'vos.mo_encoder.')
        converted[key] = value
    return converted


def load_tmo_checkpoint(model: TMO, path: Union[str, Path]) -> None:
    """Load a local TMO checkpoint (current or WACV-2023 names) strictly into ``model``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'TMO checkpoint {path} not found; download TMO_rn101.pth from the official '
                                f'release (github.com/suhwan-cho/TMO) into checkpoints/')
    try:
        state_dict = load_local_checkpoint(str(path), map_location='cpu')
    except (CorruptCheckpointError, UntrustedCheckpointError) as err:
        raise TMOCheckpointError(str(err)) from None
    state_dict = convert_tmo_state_dict(state_dict)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state_dict)), sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise TMOCheckpointError(f'{path} does not match TMO (rn101): {len(missing)} missing {missing[:5]}, '
                                 f'{len(unexpected)} unexpected {unexpected[:5]}; expected vos.app_encoder.*, '
                                 f'vos.mo_encoder.*, vos.decoder.* (the MiT-b1 variant is not supported)')
    model.load_state_dict(state_dict)
