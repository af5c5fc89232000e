"""ProPainter's InpaintGenerator: pixel propagation, feature propagation, sparse transformer (ICCV 2023).

The generator works on frames in [-1, 1] and full-resolution completed flows
(see :class:`ProPainterGenerator`). :func:`load_propainter_generator` builds it
from the released ``ProPainter.pth`` or from our training checkpoints.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.fileio.checkpoint import load_local_checkpoint
from seg.fileio.errors import InputError
from seg.models.layers.soft_comp import SoftComp
from seg.models.layers.soft_split import SoftSplit
from seg.registry import MODELS
from .flow_guided_deform_propagation import FlowGuidedDeformPropagation
from .image_propagation import ImagePropagation
from .propainter_decoder import ProPainterDecoder
from .propainter_encoder import ProPainterEncoder
from .temporal_sparse_transformer import TemporalSparseTransformer

# Features live at 1/4 of the frame size; frames must tile into 4x4 pixel cells.
FEATURE_STRIDE = 4
FEATURE_CHANNELS = 128
TOKEN_WIDTH = 512
# Soft split patches of the feature map: 7x7, stride 3, padding 3 (also the hole mask's pooling to tokens).
PATCH_KERNEL, PATCH_STRIDE, PATCH_PADDING = (7, 7), (3, 3), (3, 3)
NUM_LAYERS = 8
NUM_HEADS = 4
WINDOW_SIZE = (5, 9)
POOL_SIZE = (4, 4)
# Standard deviation of the normal initialisation of conv and linear weights.
INIT_GAIN = 0.02
DEFAULT_CHECKPOINT = 'checkpoints/propainter/ProPainter.pth'
DATA_PARALLEL_PREFIX = 'module.'
GENERATOR_PREFIX = 'generator.'


@MODELS.register_module()
class ProPainterGenerator(nn.Module):
    """ProPainter's video inpainting generator (official ``model/propainter.py`` ``InpaintGenerator``).

    :meth:`img_propagation` fills holes with pixels carried along the completed
    flows (parameter-free). :meth:`forward` encodes cat(frame, original hole,
    remaining hole) of every frame, propagates the local frames' features with
    flow-guided deformable alignment at 1/4 resolution, runs the mask-guided sparse
    transformer over all frames' soft-split tokens, adds the composed tokens back
    and decodes. Eval mode decodes the local frames; train mode all frames and its
    transformer takes the windows a hole of any frame touches (the official trainer
    and test script differ exactly so). State_dict names are the official ones
    (216 entries, the 8 ``...attention.valid_ind_rolled`` buffers included).

    Frame sizes: H and W must be multiples of 4; the token grid is zero-padded to
    window multiples, so no other constraint.

    Args:
        init_weights (bool): apply the official initialisation (normal(0, 0.02)
            conv and linear weights, zero biases; the DCN kernels keep their
            uniform initialisation).
    """

    def __init__(self, init_weights: bool = True) -> None:
        super().__init__()
        patch = dict(kernel_size=PATCH_KERNEL, stride=PATCH_STRIDE, padding=PATCH_PADDING)
        self.encoder = ProPainterEncoder(in_channels=5)
        self.decoder = ProPainterDecoder(FEATURE_CHANNELS)
        self.ss = SoftSplit(FEATURE_CHANNELS, TOKEN_WIDTH, **patch)
        self.sc = SoftComp(FEATURE_CHANNELS, TOKEN_WIDTH, **patch)
        self.img_prop_module = ImagePropagation()
        self.feat_prop_module = FlowGuidedDeformPropagation(FEATURE_CHANNELS)
        self.transformers = TemporalSparseTransformer(TOKEN_WIDTH, NUM_HEADS, WINDOW_SIZE, POOL_SIZE, NUM_LAYERS,
                                                      **patch)
        if init_weights:
            self.init_weights()

    def init_weights(self) -> None:
        """Normal(0, 0.02) weights and zero biases for every conv and linear layer."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, INIT_GAIN)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @staticmethod
    def check_size(height: int, width: int) -> None:
        """Raise ValueError unless (height, width) frames tile into the encoder's 4x4 cells."""
        if height % FEATURE_STRIDE or width % FEATURE_STRIDE:
            raise ValueError(f'ProPainterGenerator needs frame sizes that are multiples of {FEATURE_STRIDE}; got '
                             f'{height}x{width} (pad the frames, e.g. to '
                             f'{-(-height // FEATURE_STRIDE) * FEATURE_STRIDE}x'
                             f'{-(-width // FEATURE_STRIDE) * FEATURE_STRIDE}, and crop the result)')

    def img_propagation(self, masked_frames: Tensor, completed_flows: Tuple[Tensor, Tensor], masks: Tensor,
                        interpolation: str = 'nearest') -> Tuple[Tensor, Tensor]:
        """Fill holes with pixels carried along the flows from other frames (no parameters).

        Args:
            masked_frames (Tensor): (B, T, 3, H, W) frames in [-1, 1], 0 in the holes.
            completed_flows (tuple[Tensor, Tensor]): ``(flows_forward, flows_backward)``,
                each (B, T-1, 2, H, W) in pixels (x, y): forward i -> i+1 on frame i's
                grid, backward i+1 -> i on frame i+1's grid.
            masks (Tensor): (B, T, 1, H, W) 0/1 holes.
            interpolation (str): ``'nearest'`` (official inference) or ``'bilinear'``.

        Returns:
            tuple[Tensor, Tensor]: propagated frames (B, T, 3, H, W) and the remaining
            holes (B, T, 1, H, W), 0/1.
        """
        return self.img_prop_module(masked_frames, completed_flows[0], completed_flows[1], masks, interpolation)

    def forward(self, masked_frames: Tensor, completed_flows: Tuple[Tensor, Tensor], masks_in: Tensor,
                masks_updated: Tensor, num_local_frames: int, interpolation: str = 'bilinear',
                t_dilation: int = 2) -> Tensor:
        """Complete a clip.

        Args:
            masked_frames (Tensor): (B, T, 3, H, W) frames in [-1, 1] (after pixel
                propagation, the remaining holes 0); the first ``num_local_frames``
                consecutive (local), the rest reference frames.
            completed_flows (tuple[Tensor, Tensor]): ``(flows_forward, flows_backward)``
                between the local frames, each (B, L-1, 2, H, W) in pixels (x, y).
            masks_in (Tensor): (B, T, 1, H, W) original 0/1 holes.
            masks_updated (Tensor): (B, T, 1, H, W) holes left after pixel propagation.
            num_local_frames (int): L, 1 <= L <= T.
            interpolation (str): how features are warped for the alignment's offset network.
            t_dilation (int): temporal dilation of the transformer's frame subsets (a divisor of 8).

        Returns:
            Tensor: (B, L, 3, H, W) in eval mode, (B, T, 3, H, W) in train mode; tanh, in [-1, 1].
        """
        if masked_frames.dim() != 5 or masked_frames.shape[2] != 3:
            raise ValueError(f'ProPainterGenerator needs frames (B, T, 3, H, W); got {tuple(masked_frames.shape)}')
        b, t, _, height, width = masked_frames.shape
        num_local = int(num_local_frames)
        if not 1 <= num_local <= t:
            raise ValueError(f'num_local_frames must be in [1, T={t}]; got {num_local_frames}')
        self.check_size(height, width)
        for name, masks in (('masks_in', masks_in), ('masks_updated', masks_updated)):
            if tuple(masks.shape) != (b, t, 1, height, width):
                raise ValueError(f'{name} must be {(b, t, 1, height, width)}; got {tuple(masks.shape)}')
        for name, flows in zip(('flows_forward', 'flows_backward'), completed_flows):
            if tuple(flows.shape) != (b, num_local - 1, 2, height, width):
                raise ValueError(f'completed {name} must cover the {num_local} local frames: '
                                 f'{(b, num_local - 1, 2, height, width)}; got {tuple(flows.shape)}')

        feats = self.encoder(torch.cat([masked_frames.reshape(b * t, 3, height, width),
                                        masks_in.reshape(b * t, 1, height, width),
                                        masks_updated.reshape(b * t, 1, height, width)], dim=1))
        _, c, h, w = feats.shape
        feats = feats.view(b, t, c, h, w)
        small_flows = [self._shrink_flows(flows, h, w) for flows in completed_flows]
        small_masks_in = F.interpolate(masks_in.reshape(-1, 1, height, width), scale_factor=1 / FEATURE_STRIDE,
                                       mode='nearest').view(b, t, 1, h, w)
        small_masks_updated = F.interpolate(masks_updated[:, :num_local].reshape(-1, 1, height, width),
                                            scale_factor=1 / FEATURE_STRIDE, mode='nearest')
        prop_masks = torch.cat([small_masks_in[:, :num_local], small_masks_updated.view(b, num_local, 1, h, w)],
                               dim=2)
        local_feats = self.feat_prop_module(feats[:, :num_local], small_flows[0], small_flows[1], prop_masks,
                                            interpolation)
        feats = torch.cat([local_feats, feats[:, num_local:]], dim=1)

        # Which token windows a hole touches: all frames when training, the local frames at inference.
        window_frames = t if self.training else num_local
        token_masks = F.max_pool2d(small_masks_in[:, :window_frames].reshape(-1, 1, h, w), PATCH_KERNEL,
                                   PATCH_STRIDE, PATCH_PADDING)
        token_masks = token_masks.view(b, window_frames, 1, *token_masks.shape[-2:]).permute(0, 1, 3, 4, 2)
        tokens = self.ss(feats.view(-1, c, h, w), b)
        tokens = self.transformers(tokens, (h, w), token_masks, t_dilation=t_dilation)
        feats = feats + self.sc(tokens, t, (h, w)).view(b, t, c, h, w)

        decoded = feats if self.training else feats[:, :num_local]
        pred = torch.tanh(self.decoder(decoded.reshape(-1, c, h, w)))
        return pred.view(b, decoded.shape[1], 3, height, width)

    @staticmethod
    def _shrink_flows(flows: Tensor, h: int, w: int) -> Tensor:
        """(B, n, 2, H, W) flows in pixels -> (B, n, 2, H/4, W/4) in feature pixels (bilinear, divided by 4)."""
        b, n = flows.shape[:2]
        if n == 0:
            return flows.new_zeros(b, 0, 2, h, w)
        small = F.interpolate(flows.reshape(-1, 2, *flows.shape[-2:]), scale_factor=1 / FEATURE_STRIDE,
                              mode='bilinear', align_corners=False)
        return small.view(b, n, 2, h, w) / FEATURE_STRIDE


class ProPainterCheckpointError(InputError):
    """A ProPainter generator checkpoint is missing or does not hold the generator's weights."""


def propainter_generator_state_dict(checkpoint: Mapping) -> Dict[str, Tensor]:
    """The generator's weights from the released checkpoint or one of our training checkpoints.

    Accepts a plain state_dict (the released ``ProPainter.pth``) or an mmengine
    checkpoint whose ``state_dict`` holds the generator alone or a whole training
    model; in that case only the ``generator.*`` entries are kept. ``module.``
    prefixes (DataParallel / DDP) are removed.

    Args:
        checkpoint (Mapping): the unpickled checkpoint.

    Returns:
        dict: name -> tensor, named as in :class:`ProPainterGenerator`'s ``state_dict()``.
    """
    if not isinstance(checkpoint, Mapping):
        raise ProPainterCheckpointError(f'a ProPainter checkpoint must be a dict (a state_dict, or mmengine\'s with a '
                                        f'"state_dict" entry), got {type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    state = OrderedDict((k[len(DATA_PARALLEL_PREFIX):] if k.startswith(DATA_PARALLEL_PREFIX) else k, v)
                        for k, v in state.items())
    if any(k.startswith(GENERATOR_PREFIX) for k in state):
        state = OrderedDict((k[len(GENERATOR_PREFIX):], v) for k, v in state.items() if k.startswith(GENERATOR_PREFIX))
    return state


def load_propainter_generator(path: str, map_location='cpu') -> ProPainterGenerator:
    """Build a :class:`ProPainterGenerator` from a checkpoint file, strictly, in eval mode.

    Args:
        path (str): the released ``ProPainter.pth`` (expected at
            ``checkpoints/propainter/ProPainter.pth``) or our training checkpoint.
        map_location: as for :func:`torch.load`.

    Returns:
        ProPainterGenerator: the loaded generator in eval mode.

    Raises:
        ProPainterCheckpointError: the file is missing or its keys do not match the generator.
    """
    try:
        checkpoint = load_local_checkpoint(str(path), map_location=map_location)
    except FileNotFoundError:
        raise ProPainterCheckpointError(
            f'ProPainter generator checkpoint {path} not found; download ProPainter.pth from the ProPainter '
            f'release (github.com/sczhou/ProPainter) to {DEFAULT_CHECKPOINT} or pass its path') from None
    state = propainter_generator_state_dict(checkpoint)
    generator = ProPainterGenerator(init_weights=False)
    expected = generator.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ProPainterCheckpointError(
            f'{path} does not hold ProPainter generator weights: {len(missing)} missing keys {missing[:5]}, '
            f'{len(unexpected)} unexpected keys {unexpected[:5]}; expected the official InpaintGenerator layout '
            f'(ProPainter.pth from the ProPainter release, {DEFAULT_CHECKPOINT}) or a ProPainter training '
            f'checkpoint with generator.* keys')
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = ' '.join(str(err).split())
        raise ProPainterCheckpointError(f'{path} does not fit the ProPainter generator: {detail}') from None
    return generator.eval()
