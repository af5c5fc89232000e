"""SPyNet: coarse-to-fine optical flow over a 6-level image pyramid (the BasicVSR / E2FGVI variant).

Each level refines the 2x-upsampled flow of the coarser level with a residual
predicted from the reference image, the support image warped by that flow and
the flow itself. This variant (MMEditing's, used by E2FGVI as ``update_spynet``)
has six levels and no batch norm. Attribute names follow the official
state_dict (``basic_module.<level>.basic_module.<layer>.conv.*``, ``mean``, ``std``).
"""
from pathlib import Path
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from seg.fileio.checkpoint import load_local_checkpoint
from seg.registry import MODELS

from .flow_warp import flow_warp

# Pyramid levels; the coarsest is 1/32 of the (padded) input, hence the multiple of 32.
NUM_LEVELS = 6
SIZE_MULTIPLE = 2 ** (NUM_LEVELS - 1)
# Images are normalised with the ImageNet statistics before the pyramid is built.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Input channels of a level: reference RGB, warped support RGB, flow (x, y).
LEVEL_IN_CHANNELS = 3 + 3 + 2
LEVEL_CHANNELS = (32, 64, 32, 16, 2)
LEVEL_KERNEL_SIZE = 7


class SPyNetLevel(nn.Module):
    """Five 7x7 convs (8 -> 32 -> 64 -> 32 -> 16 -> 2 channels, ReLU between) predicting a flow residual."""

    def __init__(self) -> None:
        super().__init__()
        layers = []
        in_channels = LEVEL_IN_CHANNELS
        for index, out_channels in enumerate(LEVEL_CHANNELS):
            is_last = index == len(LEVEL_CHANNELS) - 1
            layers.append(ConvModule(in_channels, out_channels, LEVEL_KERNEL_SIZE, padding=LEVEL_KERNEL_SIZE // 2,
                                     norm_cfg=None, act_cfg=None if is_last else dict(type='ReLU')))
            in_channels = out_channels
        self.basic_module = nn.Sequential(*layers)

    def forward(self, level_input: Tensor) -> Tensor:
        """(N, 8, h, w) [reference, warped support, flow] -> (N, 2, h, w) flow residual in pixels."""
        return self.basic_module(level_input)


@MODELS.register_module()
class SPyNet(nn.Module):
    """Optical flow from a reference to a support image with a 6-level spatial pyramid.

    Args:
        pretrained (str, optional): local path of a SPyNet checkpoint (a plain
            state_dict or a dict with ``'state_dict'``, e.g. MMEditing's
            ``spynet_20210409-c6c1bd09.pth``). Nothing is ever downloaded; None
            keeps the random initialisation (the weights usually come with the
            enclosing model's checkpoint).
    """

    def __init__(self, pretrained: Optional[str] = None) -> None:
        super().__init__()
        self.basic_module = nn.ModuleList([SPyNetLevel() for _ in range(NUM_LEVELS)])
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str) -> None:
        """Load SPyNet weights from the local file ``path`` (``mean``/``std`` may be absent).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            KeyError: the file's names do not match SPyNet's.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f'SPyNet checkpoint {path} not found; download it yourself (e.g. MMEditing\'s '
                                    'spynet_20210409-c6c1bd09.pth) or pass pretrained=None and load the weights '
                                    'with the enclosing model\'s checkpoint')
        checkpoint = load_local_checkpoint(str(path), map_location='cpu')
        state = checkpoint.get('state_dict', checkpoint)
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [name for name in missing if name not in ('mean', 'std')]
        if missing or unexpected:
            raise KeyError(f'{path} is not a SPyNet checkpoint: missing {missing}, unexpected {unexpected}')

    def compute_flow(self, ref: Tensor, supp: Tensor) -> Tensor:
        """Flow from ``ref`` to ``supp``, both (N, 3, h, w) in [0, 1] with h, w multiples of 32.

        Returns:
            Tensor: (N, 2, h, w) flow in pixels, (x, y).
        """
        ref_pyramid = [(ref - self.mean) / self.std]
        supp_pyramid = [(supp - self.mean) / self.std]
        for _ in range(NUM_LEVELS - 1):
            ref_pyramid.append(F.avg_pool2d(ref_pyramid[-1], kernel_size=2, stride=2, count_include_pad=False))
            supp_pyramid.append(F.avg_pool2d(supp_pyramid[-1], kernel_size=2, stride=2, count_include_pad=False))
        n, _, h, w = ref.shape
        flow = ref.new_zeros(n, 2, h // SIZE_MULTIPLE, w // SIZE_MULTIPLE)
        for level, (ref_level, supp_level) in enumerate(zip(ref_pyramid[::-1], supp_pyramid[::-1])):
            if level > 0:
                flow = F.interpolate(flow, scale_factor=2, mode='bilinear', align_corners=True) * 2.0
            warped = flow_warp(supp_level, flow.permute(0, 2, 3, 1), padding_mode='border')
            flow = flow + self.basic_module[level](torch.cat([ref_level, warped, flow], dim=1))
        return flow

    def forward(self, ref: Tensor, supp: Tensor) -> Tensor:
        """Flow from ``ref`` to ``supp`` at any size: ``ref(p) ≈ supp(p + flow(p))``.

        The images are resized (bilinear) up to multiples of 32, and the flow back
        to the input size with its x and y components rescaled to match.

        Args:
            ref (Tensor): (N, 3, H, W) reference images in [0, 1], RGB.
            supp (Tensor): (N, 3, H, W) support images in [0, 1], RGB.

        Returns:
            Tensor: (N, 2, H, W) flow in pixels of the input, channel 0 = x, 1 = y.
        """
        if ref.shape != supp.shape or ref.dim() != 4 or ref.shape[1] != 3:
            raise ValueError(f'SPyNet needs two (N, 3, H, W) images of one shape; got {tuple(ref.shape)} and '
                             f'{tuple(supp.shape)}')
        h, w = ref.shape[-2:]
        h_up, w_up = self.padded_size(h, w)
        ref = F.interpolate(ref, size=(h_up, w_up), mode='bilinear', align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode='bilinear', align_corners=False)
        flow = F.interpolate(self.compute_flow(ref, supp), size=(h, w), mode='bilinear', align_corners=False)
        return torch.stack((flow[:, 0] * (float(w) / float(w_up)), flow[:, 1] * (float(h) / float(h_up))), dim=1)

    @staticmethod
    def padded_size(h: int, w: int) -> Tuple[int, int]:
        """(h, w) rounded up to multiples of 32, the size the pyramid runs at."""
        return -(-h // SIZE_MULTIPLE) * SIZE_MULTIPLE, -(-w // SIZE_MULTIPLE) * SIZE_MULTIPLE
