"""E2FGVI and E2FGVI-HQ generators: flow-guided feature propagation plus a temporal focal transformer.

A clip of masked frames is encoded to 1/4 resolution; SPyNet estimates flows
between the consecutive local frames, the local features are propagated along
them in both directions, a temporal focal transformer lets every frame (local
and reference) attend to all others, and a decoder turns the features back into
frames. Attribute names follow the official ``InpaintGenerator`` state_dicts, so
the released ``E2FGVI-CVPR22.pth`` / ``E2FGVI-HQ-CVPR22.pth`` load strictly.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.models.flow.spynet import SPyNet
from seg.models.e2fgvi.second_order_deform_propagation import SecondOrderDeformPropagation
from seg.models.layers.second_order_deformable_alignment import SecondOrderDeformableAlignment
from seg.models.layers.soft_comp import SoftComp
from seg.models.layers.soft_split import SoftSplit
from seg.models.e2fgvi.temporal_focal_transformer_block import TemporalFocalTransformerBlock
from seg.registry import MODELS

IntPair = Tuple[int, int]
# The encoder works at 1/4 of the frame size (two stride-2 convs).
FEATURE_STRIDE = 4
FEATURE_CHANNELS = 128
TOKEN_WIDTH = 512
# Soft split patches of the feature map: 7x7, stride 3, padding 3.
PATCH_KERNEL, PATCH_STRIDE, PATCH_PADDING = (7, 7), (3, 3), (3, 3)
NUM_BLOCKS = 8
NUM_HEADS = 4
WINDOW_SIZE = (5, 9)
LEAKY_SLOPE = 0.2
# Standard deviation of the normal initialisation of conv and linear weights.
INIT_GAIN = 0.02
# E2FGVI's only input size (its SoftComp bias map is 60x108 features).
E2FGVI_SIZE = (240, 432)
# E2FGVI-HQ: frame sizes whose token grid divides into the attention windows.
E2FGVI_HQ_SIZE_DIVISOR = (60, 108)


class E2FGVIEncoder(nn.Module):
    """Conv encoder to (C=128, H/4, W/4) whose last four convs see grouped skips of an earlier map.

    Each of the last four convs takes, group by group, the 256-channel map from
    before ``layers.8`` next to the previous output (grouped convs with 1, 2, 4, 8
    and 1 groups). Attribute names follow the official state_dict (``layers.<i>``,
    LeakyReLUs at odd indices).
    """

    # (in, out, stride, groups) of the convs; the last four inputs include the skip map.
    CONVS = ((3, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 256, 1, 1), (256, 384, 1, 1),
             (640, 512, 1, 2), (768, 384, 1, 4), (640, 256, 1, 8), (512, 128, 1, 1))
    # Index (into ``layers``) of the first conv that gets the skip map; groups of the skip concatenations.
    SKIP_FROM = 8
    SKIP_GROUPS = (1, 2, 4, 8, 1)

    def __init__(self) -> None:
        super().__init__()
        layers = []
        for in_channels, out_channels, stride, groups in self.CONVS:
            layers += [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups),
                       nn.LeakyReLU(LEAKY_SLOPE)]
        self.layers = nn.ModuleList(layers)

    def forward(self, frames: Tensor) -> Tensor:
        """(N, 3, H, W) frames in [-1, 1] -> (N, 128, H/4, W/4) features."""
        n = frames.shape[0]
        out = frames
        for index, layer in enumerate(self.layers):
            if index == self.SKIP_FROM:
                skip = out
            if index > self.SKIP_FROM and index % 2 == 0:
                groups = self.SKIP_GROUPS[(index - self.SKIP_FROM) // 2]
                h, w = skip.shape[-2:]
                out = torch.cat([skip.view(n, groups, -1, h, w), out.view(n, groups, -1, h, w)], dim=2)
                out = out.view(n, -1, h, w)
            out = layer(out)
        return out


class UpsampleConv(nn.Module):
    """x2 bilinear upsampling (align_corners=True), then a conv (official ``deconv``; weights in ``conv``).

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, h, w) -> (N, C_out, 2h, 2w)."""
        return self.conv(F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True))


class E2FGVIGeneratorBase(nn.Module):
    """What E2FGVI and E2FGVI-HQ share; subclasses fix the SoftComp bias and the accepted sizes.

    Args:
        soft_comp_bias_size (tuple[int, int], optional): (H/4, W/4) of SoftComp's learned
            bias map (E2FGVI); None for HQ's 3x3 ``bias_conv``.
        spynet_pretrained (str, optional): local SPyNet checkpoint to start the flow
            network from (see :class:`~seg.models.flow.SPyNet`); the generator
            checkpoints already include it.
        init_weights (bool): apply the official initialisation (normal(0, 0.02)
            conv/linear weights, zero biases, zero offset heads). SPyNet is left alone.
    """

    def __init__(self, soft_comp_bias_size: Optional[IntPair], spynet_pretrained: Optional[str] = None,
                 init_weights: bool = True) -> None:
        super().__init__()
        self.encoder = E2FGVIEncoder()
        self.decoder = nn.Sequential(
            UpsampleConv(FEATURE_CHANNELS, 128), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(128, 64, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
            UpsampleConv(64, 64), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(64, 3, 3, padding=1))
        self.feat_prop_module = SecondOrderDeformPropagation(FEATURE_CHANNELS)
        patch = dict(kernel_size=PATCH_KERNEL, stride=PATCH_STRIDE, padding=PATCH_PADDING)
        self.ss = SoftSplit(FEATURE_CHANNELS, TOKEN_WIDTH, **patch)
        self.sc = SoftComp(FEATURE_CHANNELS, TOKEN_WIDTH, **patch, bias_size=soft_comp_bias_size)
        self.transformer = nn.ModuleList([
            TemporalFocalTransformerBlock(TOKEN_WIDTH, NUM_HEADS, **patch, window_size=WINDOW_SIZE,
                                          focal_window=WINDOW_SIZE) for _ in range(NUM_BLOCKS)])
        if init_weights:
            self.init_weights()
        self.update_spynet = SPyNet(pretrained=spynet_pretrained)

    def init_weights(self) -> None:
        """Normal(0, 0.02) weights and zero biases for convs and linears, then zero the DCN offset heads."""
        for name, module in self.named_modules():
            if name.startswith('update_spynet'):
                continue
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, INIT_GAIN)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, SecondOrderDeformableAlignment):
                module.init_offset()

    def check_size(self, height: int, width: int) -> None:
        """Raise ValueError when the generator cannot run on (height, width) frames."""
        raise NotImplementedError

    def estimate_flows(self, local_frames: Tensor) -> Tuple[Tensor, Tensor]:
        """SPyNet flows between consecutive local frames at 1/4 resolution.

        Args:
            local_frames (Tensor): (B, l_t, 3, H, W) masked local frames in [0, 1].

        Returns:
            tuple[Tensor, Tensor]: ``flow_forward`` (B, l_t-1, 2, H/4, W/4) from frame
            i to i+1 (on frame i's grid) and ``flow_backward`` from i+1 to i, pixels
            at 1/4 resolution, (x, y).
        """
        b, num_local, c, h, w = local_frames.shape
        size = (h // FEATURE_STRIDE, w // FEATURE_STRIDE)
        if num_local < 2:
            empty = local_frames.new_zeros(b, 0, 2, *size)
            return empty, empty.clone()
        small = F.interpolate(local_frames.reshape(-1, c, h, w), size=size, mode='bilinear', align_corners=True)
        small = small.view(b, num_local, c, *size)
        earlier = small[:, :-1].reshape(-1, c, *size)
        later = small[:, 1:].reshape(-1, c, *size)
        flow_forward = self.update_spynet(earlier, later).view(b, num_local - 1, 2, *size)
        flow_backward = self.update_spynet(later, earlier).view(b, num_local - 1, 2, *size)
        return flow_forward, flow_backward

    def forward(self, masked_frames: Tensor, num_local_frames: int) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        """Complete every frame of a clip.

        Args:
            masked_frames (Tensor): (B, T, 3, H, W) RGB frames in [-1, 1] times (1 - mask),
                the first ``num_local_frames`` consecutive (local) frames, the rest
                reference frames.
            num_local_frames (int): l_t, 1 <= l_t <= T.

        Returns:
            tuple: ``pred`` (B*T, 3, H, W) tanh output in [-1, 1] for all T frames,
            and ``(flow_forward, flow_backward)`` (B, l_t-1, 2, H/4, W/4) as
            :meth:`estimate_flows`.
        """
        if masked_frames.dim() != 5 or masked_frames.shape[2] != 3:
            raise ValueError(f'{type(self).__name__} needs masked frames (B, T, 3, H, W); '
                             f'got {tuple(masked_frames.shape)}')
        b, t, c, height, width = masked_frames.shape
        if not 1 <= num_local_frames <= t:
            raise ValueError(f'num_local_frames must be in [1, T={t}]; got {num_local_frames}')
        self.check_size(height, width)
        flows = self.estimate_flows((masked_frames[:, :num_local_frames] + 1) / 2)

        feats = self.encoder(masked_frames.reshape(b * t, c, height, width))
        _, channels, h, w = feats.shape
        feats = feats.view(b, t, channels, h, w)
        local_feats = self.feat_prop_module(feats[:, :num_local_frames], flows_forward=flows[0],
                                            flows_backward=flows[1])
        feats = torch.cat((local_feats, feats[:, num_local_frames:]), dim=1)

        tokens = self.ss(feats.view(-1, channels, h, w), b)
        for block in self.transformer:
            tokens = block(tokens, (h, w))
        feats = feats + self.sc(tokens, t, (h, w)).view(b, t, channels, h, w)

        pred = torch.tanh(self.decoder(feats.view(b * t, channels, h, w)))
        return pred, flows


@MODELS.register_module()
class E2FGVIGenerator(E2FGVIGeneratorBase):
    """The E2FGVI generator (official ``model/e2fgvi.py`` ``InpaintGenerator``); 240x432 frames only.

    Its SoftComp adds a learned 60x108 bias map (``sc.bias``), so it runs at the
    one size the official test script resizes every video to.

    Args:
        spynet_pretrained (str, optional): see :class:`E2FGVIGeneratorBase`.
        init_weights (bool): see :class:`E2FGVIGeneratorBase`.
    """

    fixed_size: IntPair = E2FGVI_SIZE

    def __init__(self, spynet_pretrained: Optional[str] = None, init_weights: bool = True) -> None:
        bias_size = tuple(size // FEATURE_STRIDE for size in self.fixed_size)
        super().__init__(bias_size, spynet_pretrained, init_weights)

    def check_size(self, height: int, width: int) -> None:
        """Raise ValueError unless (height, width) == (240, 432)."""
        if (height, width) != self.fixed_size:
            raise ValueError(f'E2FGVIGenerator only runs on {self.fixed_size[0]}x{self.fixed_size[1]} frames; got '
                             f'{height}x{width}. Resize the frames to {self.fixed_size[1]}x{self.fixed_size[0]} '
                             '(W x H) as the official test does, or use E2FGVIHQGenerator for other sizes')
