"""E2FGVI's flow completion loss: the generator's local flows against a frozen SPyNet's on the ground truth."""
import os.path as osp
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType
from torch import Tensor

from seg.registry import MODELS

#: Where the official code fetches its SPyNet weights (MMEditing's BasicVSR SPyNet); we never download.
SPYNET_URL = 'https://download.openmmlab.com/mmediting/restorers/basicvsr/spynet_20210409-c6c1bd09.pth'
#: Where our configs expect that file.
DEFAULT_SPYNET_CHECKPOINT = 'checkpoints/spynet_20210409-c6c1bd09.pth'
# The generator estimates flows at 1/4 of the frame size.
FLOW_STRIDE = 4


def check_spynet_checkpoint(path: Optional[str], config_key: str) -> None:
    """Raise FileNotFoundError naming the download when the SPyNet weights ``path`` are missing.

    Args:
        path: local path from a config; None is accepted (nothing to load).
        config_key: the config field that holds it, for the message.
    """
    if path is None or osp.isfile(path):
        return
    raise FileNotFoundError(
        f'SPyNet weights {path} ({config_key}) not found. Download {SPYNET_URL} and put it at {path} '
        f'(default {DEFAULT_SPYNET_CHECKPOINT}), or point {config_key} at your copy. Nothing is downloaded '
        'at run time.')


@MODELS.register_module()
class FlowCompletionLoss(nn.Module):
    """L1 between predicted local flows and SPyNet flows of the ground-truth local frames (official).

    As the official ``FlowCompletionLoss``: the ground-truth local frames are
    shrunk to 1/4 (bilinear, ``align_corners=True``), a frozen SPyNet estimates
    the flows between consecutive frames both ways, and the loss is the mean
    absolute error of the forward flows plus that of the backward flows.

    The SPyNet is a fixed measuring instrument loaded from its own file: it is
    kept outside the module tree (so it is in no state_dict, optimiser or DDP
    wrapper) and follows the loss whenever it is moved or cast (``.to(...)``).

    Args:
        spynet: config of the frozen flow network, a ``SPyNet`` whose
            ``pretrained`` names local weights (:data:`DEFAULT_SPYNET_CHECKPOINT`).
    """

    def __init__(self, spynet: ConfigType) -> None:
        super().__init__()
        pretrained = spynet.get('pretrained')
        if pretrained is None:
            raise ValueError('FlowCompletionLoss needs a pretrained SPyNet (spynet.pretrained=<local .pth>): a '
                             f'random one measures nothing. Download {SPYNET_URL} to {DEFAULT_SPYNET_CHECKPOINT}')
        check_spynet_checkpoint(pretrained, 'flow_supervisor.pretrained')
        flow_net = MODELS.build(spynet)
        flow_net.requires_grad_(False)
        flow_net.eval()
        self._flow_net = (flow_net, )

    @property
    def flow_net(self) -> nn.Module:
        """The frozen SPyNet."""
        return self._flow_net[0]

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> 'FlowCompletionLoss':
        """Move / cast the hidden SPyNet together with this module."""
        super()._apply(fn, recurse)
        self.flow_net._apply(fn, recurse)
        return self

    def forward(self, pred_flows: Tuple[Tensor, Tensor], gt_local_frames: Tensor) -> Tensor:
        """Flow completion loss of one batch.

        Args:
            pred_flows: the generator's ``(flow_forward, flow_backward)``, each
                (B, l_t - 1, 2, H/4, W/4) in pixels at 1/4 resolution.
            gt_local_frames: (B, l_t, 3, H, W) ground-truth local frames in [0, 1].

        Returns:
            Tensor: scalar, L1(forward) + L1(backward); 0 when l_t < 2 (no flows).
        """
        flow_forward, flow_backward = pred_flows
        b, num_local, c, h, w = gt_local_frames.shape
        if num_local < 2:
            return flow_forward.sum() * 0.0
        size = (h // FLOW_STRIDE, w // FLOW_STRIDE)
        with torch.no_grad():
            small = F.interpolate(gt_local_frames.reshape(-1, c, h, w), size=size, mode='bilinear',
                                  align_corners=True).view(b, num_local, c, *size)
            earlier = small[:, :-1].reshape(-1, c, *size)
            later = small[:, 1:].reshape(-1, c, *size)
            gt_forward = self.flow_net(earlier, later)
            gt_backward = self.flow_net(later, earlier)
        return (F.l1_loss(flow_forward.reshape(-1, 2, *size), gt_forward) +
                F.l1_loss(flow_backward.reshape(-1, 2, *size), gt_backward))
