"""RAFT optical flow (Teed & Deng, ECCV 2020), as ProPainter ships it: raft-things and raft-small.

A feature encoder (``fnet``) maps both images to a 1/8 grid, where their all-pairs
correlation is built once (:class:`~seg.models.flow.raft_correlation.CorrelationPyramid`).
A context encoder (``cnet``) on image 1 gives the initial GRU state (tanh) and
context features (ReLU). Starting from zero flow (or ``flow_init``), each
iteration looks the correlation up around the current targets, lets the update
block predict a residual, and adds it; the flow is then upsampled x8 (convex
combination of 3x3 neighbours for raft-things, bilinear for raft-small).
Attribute names are the official ones (``fnet``, ``cnet``, ``update_block``);
:func:`raft_state_dict` reads the released checkpoints.
"""
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.fileio.checkpoint import CheckpointMismatchError, load_local_checkpoint, load_weights, model_state_dict
from seg.fileio.errors import InputError
from seg.registry import MODELS

from .raft_correlation import NUM_LEVELS, CorrelationPyramid
from .raft_encoders import ENCODER_STRIDE, BasicEncoder, SmallEncoder
from .raft_update_block import UPSAMPLE_FACTOR, UPSAMPLE_NEIGHBOURS, BasicUpdateBlock, SmallUpdateBlock

#: Smallest image side RAFT accepts: the coarsest correlation level (1/64 of the
#: image) must be at least 2 pixels, or the bilinear look-up divides by zero.
MIN_SIDE = ENCODER_STRIDE * 2 ** (NUM_LEVELS - 1) * 2
#: Where the released weights are expected, and where they come from.
RAFT_CHECKPOINTS = {
    False: ('checkpoints/propainter/raft-things.pth',
            'raft-things.pth from the ProPainter release (github.com/sczhou/ProPainter/releases, v0.1.0)'),
    True: ('checkpoints/raft/raft-small.pth', 'raft-small.pth from RAFT\'s models.zip (github.com/princeton-vl/RAFT)'),
}
#: The official strided residual block registers its shortcut BatchNorm twice, as
#: ``norm3`` and as ``downsample.1`` (raft-things cnet.layer2.0 / layer3.0); we register it once.
_ALIASED_NORM = re.compile(r'^((?:fnet|cnet)\.layer\d+\.\d+\.)norm3\.(.+)$')


class RAFTCheckpointError(InputError):
    """A RAFT checkpoint is missing or does not hold RAFT weights of the requested layout."""


@MODELS.register_module()
class RAFT(nn.Module):
    """RAFT optical flow estimator (ProPainter's copy of the official code).

    Layouts: raft-things (``small=False``: hidden and context 128 channels,
    256-channel features, BatchNorm context encoder, correlation radius 4) and
    raft-small (``small=True``: 96/64 channels, 128-channel features, no context
    norm, radius 3). Both use 4 correlation levels. Autocast is left to the caller.

    Args:
        small (bool): raft-small instead of raft-things.
        dropout (float): ``Dropout2d`` probability on both encoders' outputs (training only).
    """

    def __init__(self, small: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.small = small
        if small:
            self.hidden_dim, self.context_dim, self.corr_radius = 96, 64, 3
            self.fnet = SmallEncoder(output_dim=128, norm_fn='instance', dropout=dropout)
            self.cnet = SmallEncoder(output_dim=self.hidden_dim + self.context_dim, norm_fn='none', dropout=dropout)
            update_cls = SmallUpdateBlock
        else:
            self.hidden_dim, self.context_dim, self.corr_radius = 128, 128, 4
            self.fnet = BasicEncoder(output_dim=256, norm_fn='instance', dropout=dropout)
            self.cnet = BasicEncoder(output_dim=self.hidden_dim + self.context_dim, norm_fn='batch', dropout=dropout)
            update_cls = BasicUpdateBlock
        corr_channels = NUM_LEVELS * (2 * self.corr_radius + 1) ** 2
        self.update_block = update_cls(corr_channels, hidden_dim=self.hidden_dim, context_dim=self.context_dim)

    def forward(self, image1: Tensor, image2: Tensor, iters: int = 12, flow_init: Optional[Tensor] = None,
                test_mode: bool = False) -> Union[Tuple[Tensor, Tensor], List[Tensor]]:
        """Flow from ``image1`` to ``image2``: ``image1(p) ≈ image2(p + flow(p))``.

        Args:
            image1 (Tensor): (N, 3, H, W) RGB in [-1, 1]; H and W multiples of 8
                and at least :data:`MIN_SIDE` (128). Use
                :class:`~seg.models.flow.BidirectionalRAFT` for other sizes.
            image2 (Tensor): (N, 3, H, W) RGB in [-1, 1].
            iters (int): refinement iterations (>= 1).
            flow_init (Tensor, optional): (N, 2, H/8, W/8) initial flow in pixels of
                the 1/8 grid (e.g. a previous ``flow_low``).
            test_mode (bool): return only the final flows.

        Returns:
            ``test_mode``: ``(flow_low, flow_up)``, (N, 2, H/8, W/8) in 1/8-grid
            pixels and (N, 2, H, W) in image pixels, after the last iteration.
            Otherwise the list of ``iters`` upsampled flows (N, 2, H, W), one per
            iteration. Channel 0 = x, 1 = y.
        """
        self._check_inputs(image1, image2, iters)
        fmap1, fmap2 = self.fnet(torch.cat([image1, image2], dim=0)).split(image1.shape[0], dim=0)
        corr_fn = CorrelationPyramid(fmap1.float(), fmap2.float(), num_levels=NUM_LEVELS, radius=self.corr_radius)
        hidden, context = self.cnet(image1).split([self.hidden_dim, self.context_dim], dim=1)
        hidden, context = torch.tanh(hidden), torch.relu(context)

        coords0 = grid_coordinates(fmap1)
        coords1 = coords0.clone() if flow_init is None else coords0 + flow_init
        predictions = []
        for iteration in range(iters):
            # Gradients do not flow through the look-up positions into earlier iterations.
            coords1 = coords1.detach()
            corr = corr_fn(coords1)
            hidden, up_mask, delta_flow = self.update_block(hidden, context, corr, coords1 - coords0)
            coords1 = coords1 + delta_flow
            if not test_mode or iteration == iters - 1:
                predictions.append(upsample_flow(coords1 - coords0, up_mask))
        if test_mode:
            return coords1 - coords0, predictions[-1]
        return predictions

    @staticmethod
    def _check_inputs(image1: Tensor, image2: Tensor, iters: int) -> None:
        if image1.dim() != 4 or image1.shape[1] != 3 or image1.shape != image2.shape:
            raise ValueError(f'RAFT needs two (N, 3, H, W) images of one shape; got {tuple(image1.shape)} and '
                             f'{tuple(image2.shape)}')
        height, width = image1.shape[-2:]
        if height % ENCODER_STRIDE or width % ENCODER_STRIDE or min(height, width) < MIN_SIDE:
            raise ValueError(f'RAFT needs H and W multiples of {ENCODER_STRIDE} and at least {MIN_SIDE}, got '
                             f'{height}x{width}; resize or pad the images (BidirectionalRAFT does it for you)')
        if iters < 1:
            raise ValueError(f'RAFT needs iters >= 1, got {iters}')


def grid_coordinates(features: Tensor) -> Tensor:
    """(N, 2, h, w) float32 pixel coordinates (x, y) of the grid of ``features`` (N, C, h, w)."""
    n, _, h, w = features.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=features.device), torch.arange(w, device=features.device),
                            indexing='ij')
    return torch.stack([xs, ys], dim=0).float()[None].repeat(n, 1, 1, 1)


def upsample_flow(flow: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Upsample a 1/8-grid flow x8 to image pixels.

    With ``mask`` each fine pixel is a convex combination (softmax weights) of the
    3x3 coarse neighbours of 8·flow; without it (raft-small) 8·flow is resized
    bilinearly (``align_corners=True``).

    Args:
        flow (Tensor): (N, 2, h, w) flow in 1/8-grid pixels.
        mask (Tensor, optional): (N, 9*8*8, h, w) upsampling-weight logits.

    Returns:
        Tensor: (N, 2, 8h, 8w) flow in image pixels.
    """
    n, _, h, w = flow.shape
    factor = UPSAMPLE_FACTOR
    if mask is None:
        return factor * F.interpolate(flow, size=(factor * h, factor * w), mode='bilinear', align_corners=True)
    weights = torch.softmax(mask.view(n, 1, UPSAMPLE_NEIGHBOURS, factor, factor, h, w), dim=2)
    neighbours = F.unfold(factor * flow, [3, 3], padding=1).view(n, 2, UPSAMPLE_NEIGHBOURS, 1, 1, h, w)
    fine = torch.sum(weights * neighbours, dim=2)  # (N, 2, 8 (row in cell), 8 (column in cell), h, w)
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(n, 2, factor * h, factor * w)


def raft_state_dict(checkpoint: Mapping) -> Dict[str, Tensor]:
    """RAFT weights from an official checkpoint, named as :class:`RAFT`'s own ``state_dict()``.

    Accepts a plain state_dict or one wrapped as ``{'state_dict': ...}``; drops
    DataParallel's ``module.`` prefix (the released ``raft-things.pth`` has it on
    every key). The official strided residual block registers one BatchNorm as
    both ``norm3`` and ``downsample.1`` (raft-things ``cnet.layer{2,3}.0``), so its
    checkpoints carry both names for one tensor; we keep ``downsample.1`` (the
    name the official load writes last, hence the value it runs with) and drop
    ``norm3``. A ``norm3`` entry without its ``downsample.1`` twin is renamed.

    Args:
        checkpoint: the unpickled checkpoint.

    Returns:
        dict: parameter / buffer name -> tensor.

    Raises:
        CheckpointMismatchError: ``checkpoint`` holds no state_dict.
    """
    state = model_state_dict(checkpoint)
    converted = {}
    for key, value in state.items():
        alias = _ALIASED_NORM.match(key)
        if alias is None:
            converted[key] = value
            continue
        twin = f'{alias.group(1)}downsample.1.{alias.group(2)}'
        if twin not in state:
            converted[twin] = value
    return converted


def load_raft(path: Union[str, Path], small: bool = False, map_location='cpu') -> RAFT:
    """A :class:`RAFT` in eval mode with the weights of the local checkpoint ``path``, loaded strictly.

    The file is read with safe (weights-only) unpickling and converted by
    :func:`raft_state_dict`.

    Args:
        path: e.g. ``checkpoints/propainter/raft-things.pth`` (ProPainter release).
        small (bool): the file holds raft-small weights.
        map_location: as for :func:`torch.load`.

    Raises:
        RAFTCheckpointError: no file at ``path``, or its weights do not fit the
            requested layout (the first missing / unexpected names are listed).
    """
    expected_path, source = RAFT_CHECKPOINTS[small]
    layout = 'raft-small (small=True)' if small else 'raft-things (small=False)'
    if not Path(path).is_file():
        raise RAFTCheckpointError(f'RAFT checkpoint {path} not found; download {source} to {expected_path} '
                                  f'and pass that path')
    model = RAFT(small=small)
    hint = (f'Expected the {layout} layout of {source} (usually at {expected_path}); pass small={not small} if '
            f'the file holds the other layout')
    try:
        state = raft_state_dict(load_local_checkpoint(str(path), map_location=map_location))
    except CheckpointMismatchError as err:
        raise RAFTCheckpointError(f'{path}: {err}. {hint}') from None
    own = model.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if missing or unexpected:
        raise RAFTCheckpointError(f'{path} does not hold RAFT weights of the {layout} layout: '
                                  f'{_first_keys(missing)} missing, {_first_keys(unexpected)} unexpected. {hint}')
    try:
        load_weights(model, state, str(path), hint=hint)
    except CheckpointMismatchError as err:
        raise RAFTCheckpointError(str(err)) from None
    return model.eval()


def _first_keys(keys: List[str], shown: int = 4) -> str:
    """``'N (a, b, ...)'`` for a message; ``'0'`` for none."""
    if not keys:
        return '0'
    return f'{len(keys)} ({", ".join(keys[:shown])}{", ..." if len(keys) > shown else ""})'
