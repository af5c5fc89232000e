"""ProPainter's recurrent flow completion network: fill the holes of optical flow fields.

A pseudo-3D conv encoder takes each flow with its hole mask to 1/8 resolution,
a bidirectional second-order deformable propagation
(:class:`~seg.models.flow.unguided_deform_propagation.UnguidedDeformPropagation`)
carries information through time there, and a 2D decoder with skip
connections predicts the full-resolution flow again. In train mode an edge head
(:class:`~seg.models.flow.flow_edge_detector.FlowEdgeDetector`) also predicts the
flow's motion edges for the edge loss. Attribute names follow the official
state_dict (74 parameters, no buffers), so the released
``recurrent_flow_completion.pth`` loads strictly (:func:`load_flow_completion`).
"""
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.fileio.checkpoint import (CheckpointMismatchError, CorruptCheckpointError, UntrustedCheckpointError,
                                   load_local_checkpoint, load_weights)
from seg.fileio.errors import InputError
from seg.registry import MODELS

from .flow_edge_detector import FlowEdgeDetector
from .unguided_deform_propagation import UnguidedDeformPropagation

# Three stride-2 stages: flows are completed at 1/8 of their resolution.
SIZE_MULTIPLE = 8
PROPAGATION_CHANNELS = 128
# The network input per time step: a masked flow (x, y) and its hole mask.
INPUT_CHANNELS = 2 + 1
#: Where the released weights go (the ProPainter release's ``recurrent_flow_completion.pth``).
DEFAULT_FLOW_COMPLETION_CHECKPOINT = 'checkpoints/propainter/recurrent_flow_completion.pth'
#: Prefix of the network's weights inside this project's flow-completion training checkpoints.
TRAINING_PREFIX = 'flow_net.'

FlowPair = Tuple[Tensor, Tensor]
OptionalEdgePair = Tuple[Optional[Tensor], Optional[Tensor]]


class FlowCompletionCheckpointError(InputError):
    """A flow completion checkpoint is missing, unreadable, or does not fit :class:`RecurrentFlowCompleteNet`."""


class P3DBlock(nn.Module):
    """Pseudo-3D conv: a (1, k, k) spatial conv with LeakyReLU, then a (3, 1, 1) temporal conv dilated by 2.

    Attribute names follow the official state_dict (``conv1.0``, ``conv2.0``).

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        stride (int): spatial stride.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1)),
            nn.LeakyReLU(0.2))
        # Zero-padded in time: the first and last steps see zeros two steps beyond them.
        self.conv2 = nn.Sequential(
            nn.Conv3d(out_channels, out_channels, (3, 1, 1), padding=(2, 0, 0), dilation=(2, 1, 1)))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, T, H, W) -> (B, C_out, T, H / stride, W / stride)."""
        return self.conv2(self.conv1(x))


class UpsampleConv(nn.Module):
    """x2 bilinear upsampling (``align_corners=True``) then a 3x3 conv (the official ``deconv``, key ``conv``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, 2H, 2W)."""
        return self.conv(F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True))


def _check_size(height: int, width: int) -> None:
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ValueError(f'RecurrentFlowCompleteNet needs flows whose height and width are multiples of '
                         f'{SIZE_MULTIPLE}; got {height}x{width}. Resize or pad the flows (scaling their values '
                         f'with the size) and the masks first.')


@MODELS.register_module()
class RecurrentFlowCompleteNet(nn.Module):
    """Complete the optical flows of a clip inside its holes (ProPainter's flow completion).

    Flows are in pixels at their own resolution, channel 0 = x, 1 = y; masks are
    float 0/1 with 1 = hole; H and W must be multiples of 8. The network has no
    batch norm or dropout, so train and eval mode give the same flows; edge maps
    are computed in train mode only (as the official network).
    """

    def __init__(self) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv3d(INPUT_CHANNELS, 32, (1, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2), padding_mode='replicate'),
            nn.LeakyReLU(0.2))
        # Official layout: [P3D, act, P3D (stride 2), act]; 1/4 then 1/8 resolution.
        self.encoder1 = nn.Sequential(P3DBlock(32, 32, 1), nn.LeakyReLU(0.2), P3DBlock(32, 64, 2), nn.LeakyReLU(0.2))
        self.encoder2 = nn.Sequential(P3DBlock(64, 64, 1), nn.LeakyReLU(0.2), P3DBlock(64, 128, 2), nn.LeakyReLU(0.2))
        mid_layers = []
        for dilation in (3, 2, 1):
            mid_layers += [nn.Conv3d(128, 128, (1, 3, 3), padding=(0, dilation, dilation),
                                     dilation=(1, dilation, dilation)),
                           nn.LeakyReLU(0.2)]
        self.mid_dilation = nn.Sequential(*mid_layers)
        self.feat_prop_module = UnguidedDeformPropagation(PROPAGATION_CHANNELS)
        self.decoder2 = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1), nn.LeakyReLU(0.2),
                                      UpsampleConv(128, 64), nn.LeakyReLU(0.2))
        self.decoder1 = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.LeakyReLU(0.2),
                                      UpsampleConv(64, 32), nn.LeakyReLU(0.2))
        self.upsample = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.LeakyReLU(0.2), UpsampleConv(32, 2))
        self.edgeDetector = FlowEdgeDetector(in_channels=2, out_channels=1, mid_channels=16)

    def forward(self, masked_flows: Tensor, masks: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Complete one direction's flows, in the given time order.

        Args:
            masked_flows (Tensor): (B, N, 2, H, W) flows, pixels, zero inside the holes
                (N = T-1 for a clip of T frames).
            masks (Tensor): (B, N, 1, H, W) each flow's hole mask, 0/1.

        Returns:
            tuple: ``(flows, edges)``: flows (B, N, 2, H, W), pixels, predicted everywhere
            (combine with :meth:`combine_flow`); edges (B, N, 1, H, W) in (0, 1) in train
            mode, None in eval mode.

        Raises:
            ValueError: wrong shapes, or H or W not a multiple of 8.
        """
        if masked_flows.dim() != 5 or masked_flows.size(2) != 2:
            raise ValueError(f'RecurrentFlowCompleteNet needs flows of shape (B, N, 2, H, W); '
                             f'got {tuple(masked_flows.shape)}')
        b, n, _, h, w = masked_flows.shape
        if tuple(masks.shape) != (b, n, 1, h, w):
            raise ValueError(f'RecurrentFlowCompleteNet needs masks of shape {(b, n, 1, h, w)} for flows '
                             f'{tuple(masked_flows.shape)}; got {tuple(masks.shape)}')
        _check_size(h, w)
        x = self.downsample(torch.cat((masked_flows, masks), dim=2).transpose(1, 2))
        feat_e1 = self.encoder1(x)
        feat_mid = self.mid_dilation(self.encoder2(feat_e1))
        feat_prop = self.feat_prop_module(feat_mid.transpose(1, 2))
        feat_prop = feat_prop.reshape(b * n, PROPAGATION_CHANNELS, h // SIZE_MULTIPLE, w // SIZE_MULTIPLE)
        feat_e1 = feat_e1.transpose(1, 2).reshape(b * n, -1, *feat_e1.shape[-2:])
        flow = self.upsample(self.decoder1(self.decoder2(feat_prop) + feat_e1))
        edge = self.edgeDetector(flow).view(b, n, 1, h, w) if self.training else None
        return flow.view(b, n, 2, h, w), edge

    def forward_bidirect_flow(self, masked_flows_bi: FlowPair, masks: Tensor) -> Tuple[FlowPair, OptionalEdgePair]:
        """Complete the forward and backward flows of a clip.

        Each flow is zeroed inside the hole of the frame it starts from (forward
        flow i in ``masks[:, i]``, backward flow i in ``masks[:, i + 1]``). The
        backward flows are completed by the same network on the time-reversed
        sequence, and the results flipped back to time order.

        Args:
            masked_flows_bi (tuple[Tensor, Tensor]): (flows_forward, flows_backward), each
                (B, T-1, 2, H, W), pixels; forward flow i maps frame i -> i+1 on frame i's
                grid, backward flow i maps frame i+1 -> i on frame i+1's grid. Values inside
                the holes are ignored.
            masks (Tensor): (B, T, 1, H, W) 0/1 hole masks of the frames (1 = hole).

        Returns:
            tuple: ``((pred_forward, pred_backward), (edges_forward, edges_backward))``:
            predicted flows (B, T-1, 2, H, W), pixels, everywhere; edge maps
            (B, T-1, 1, H, W) in train mode, ``(None, None)`` in eval mode.
        """
        flows_forward, flows_backward = masked_flows_bi
        masks_forward, masks_backward = self._direction_masks(flows_forward, flows_backward, masks)
        pred_forward, edges_forward = self(flows_forward * (1 - masks_forward), masks_forward)
        pred_backward, edges_backward = self((flows_backward * (1 - masks_backward)).flip(1), masks_backward.flip(1))
        pred_backward = pred_backward.flip(1)
        if edges_backward is not None:
            edges_backward = edges_backward.flip(1)
        return (pred_forward, pred_backward), (edges_forward, edges_backward)

    def combine_flow(self, masked_flows_bi: FlowPair, pred_flows_bi: FlowPair, masks: Tensor) -> FlowPair:
        """Keep the input flows outside the holes and the predictions inside.

        Args:
            masked_flows_bi (tuple[Tensor, Tensor]): input (flows_forward, flows_backward),
                each (B, T-1, 2, H, W), pixels.
            pred_flows_bi (tuple[Tensor, Tensor]): the predictions of :meth:`forward_bidirect_flow`.
            masks (Tensor): (B, T, 1, H, W) 0/1 hole masks; forward flow i uses frame i's,
                backward flow i frame i+1's.

        Returns:
            tuple: (flows_forward, flows_backward), each (B, T-1, 2, H, W), pixels.
        """
        masks_forward, masks_backward = self._direction_masks(*masked_flows_bi, masks)
        combined_forward = pred_flows_bi[0] * masks_forward + masked_flows_bi[0] * (1 - masks_forward)
        combined_backward = pred_flows_bi[1] * masks_backward + masked_flows_bi[1] * (1 - masks_backward)
        return combined_forward, combined_backward

    @staticmethod
    def _direction_masks(flows_forward: Tensor, flows_backward: Tensor, masks: Tensor) -> Tuple[Tensor, Tensor]:
        """The masks of the frames the forward flows (0 ... T-2) and backward flows (1 ... T-1) start from."""
        if flows_forward.dim() != 5 or flows_forward.shape != flows_backward.shape:
            raise ValueError(f'RecurrentFlowCompleteNet needs forward and backward flows of one shape '
                             f'(B, T-1, 2, H, W); got {tuple(flows_forward.shape)} and {tuple(flows_backward.shape)}')
        b, n, _, h, w = flows_forward.shape
        if tuple(masks.shape) != (b, n + 1, 1, h, w):
            raise ValueError(f'RecurrentFlowCompleteNet needs masks of shape {(b, n + 1, 1, h, w)} (one per frame) '
                             f'for flows {tuple(flows_forward.shape)}; got {tuple(masks.shape)}')
        return masks[:, :-1], masks[:, 1:]


def _network_weights(checkpoint, prefix: Optional[str]) -> Dict[str, Tensor]:
    """The network's weights from an unpickled checkpoint (see :func:`load_flow_completion`)."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise FlowCompletionCheckpointError(f'holds a {type(checkpoint).__name__}, not a state dict')
    state = {key[len('module.'):] if key.startswith('module.') else key: value for key, value in state.items()}
    if prefix is None and any(key.startswith(TRAINING_PREFIX) for key in state):
        prefix = TRAINING_PREFIX
    if prefix:
        state = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        if not state:
            raise FlowCompletionCheckpointError(f'has no weights under the prefix {prefix!r}')
    return state


def load_flow_completion(path: Union[str, Path] = DEFAULT_FLOW_COMPLETION_CHECKPOINT,
                         map_location='cpu', prefix: Optional[str] = None) -> RecurrentFlowCompleteNet:
    """Build :class:`RecurrentFlowCompleteNet` from a local checkpoint, strictly, in eval mode.

    Accepted files: the released ``recurrent_flow_completion.pth`` (a plain
    state_dict), the same with DDP's ``module.`` prefix, and an mmengine
    checkpoint whose ``state_dict`` holds the network. In the last case the
    network's keys are those under ``prefix``; without one, if any key starts
    with ``flow_net.`` (this project's flow-completion training model) those
    are taken, else all keys. The file is read with
    :func:`~seg.fileio.checkpoint.load_local_checkpoint` (safe unpickling).

    Args:
        path: the checkpoint file.
        map_location: as for :func:`torch.load`.
        prefix (str, optional): prefix of the network's keys in the checkpoint, e.g. ``'flow_net.'``.

    Returns:
        RecurrentFlowCompleteNet: the loaded network, in eval mode.

    Raises:
        FlowCompletionCheckpointError: the file is missing, unreadable or untrusted, or its weights do
            not match the network (the first missing and unexpected keys are named).
    """
    hint = (f'Expected the flow completion weights of the ProPainter release (recurrent_flow_completion.pth, '
            f'github.com/sczhou/ProPainter) at {DEFAULT_FLOW_COMPLETION_CHECKPOINT}')
    path = Path(path)
    if not path.is_file():
        raise FlowCompletionCheckpointError(f'flow completion checkpoint {path} not found. {hint}.')
    try:
        checkpoint = load_local_checkpoint(str(path), map_location=map_location)
    except (CorruptCheckpointError, UntrustedCheckpointError) as err:
        raise FlowCompletionCheckpointError(str(err)) from None
    try:
        state = _network_weights(checkpoint, prefix)
    except FlowCompletionCheckpointError as err:
        raise FlowCompletionCheckpointError(f'flow completion checkpoint {path} {err}. {hint}.') from None
    net = RecurrentFlowCompleteNet()
    try:
        load_weights(net, state, str(path), hint=hint + ' (or pass prefix= for a checkpoint of a larger model).')
    except CheckpointMismatchError as err:
        raise FlowCompletionCheckpointError(str(err)) from None
    return net.eval()
