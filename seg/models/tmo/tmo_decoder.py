"""TMO's decoder: summed appearance + motion features, top-down with CBAM, two-class logits."""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .tmo_layers import TMOCBAM, conv_block

#: Decoder width.
DECODER_DIM = 256
#: ResNet-101 channels at strides 32, 16, 8, 4.
ENCODER_DIMS = (2048, 1024, 512, 256)
#: Logits are predicted at stride 4 and upsampled by this.
OUTPUT_STRIDE = 4


class TMODecoder(nn.Module):
    """Four stages (stride 32 → 4): 1×1 lateral conv of the summed features, ×2 bicubic upsampling of the
    previous stage concatenated after it, 3×3 blend, CBAM; then a 3×3 predictor and ×4 bicubic upsampling.

    Forward: two encoder dicts → (B, 2, H, W) logits [background, foreground].
    """

    def __init__(self):
        super().__init__()
        for i, channels in enumerate(ENCODER_DIMS, start=1):
            blend_in = DECODER_DIM if i == 1 else 2 * DECODER_DIM
            setattr(self, f'conv{i}', conv_block(channels, DECODER_DIM, 1, relu=True))
            setattr(self, f'blend{i}', conv_block(blend_in, DECODER_DIM, 3, relu=True))
            setattr(self, f'cbam{i}', TMOCBAM(DECODER_DIM))
        self.predictor = conv_block(DECODER_DIM, 2, 3)

    def forward(self, app_feats: Dict[str, Tensor], mo_feats: Dict[str, Tensor]) -> Tensor:
        x = None
        for i, name in enumerate(('s32', 's16', 's8', 's4'), start=1):
            lateral = getattr(self, f'conv{i}')(app_feats[name] + mo_feats[name])
            if x is not None:
                lateral = torch.cat([lateral, F.interpolate(x, scale_factor=2, mode='bicubic')], dim=1)
            x = getattr(self, f'cbam{i}')(getattr(self, f'blend{i}')(lateral))
        return F.interpolate(self.predictor(x), scale_factor=OUTPUT_STRIDE, mode='bicubic')
