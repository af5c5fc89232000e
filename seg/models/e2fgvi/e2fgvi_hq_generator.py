"""The E2FGVI-HQ generator: E2FGVI's network at any frame size divisible by (60, 108)."""
from typing import Optional

from seg.registry import MODELS
from .e2fgvi_generator import E2FGVI_HQ_SIZE_DIVISOR, E2FGVIGeneratorBase, IntPair


@MODELS.register_module()
class E2FGVIHQGenerator(E2FGVIGeneratorBase):
    """The E2FGVI-HQ generator (official ``model/e2fgvi_hq.py`` ``InpaintGenerator``); any size divisible by (60, 108).

    SoftSplit and SoftComp take the feature size at run time and SoftComp ends in
    a 3x3 conv (``sc.bias_conv``) instead of a learned bias map.

    Args:
        spynet_pretrained (str, optional): see :class:`E2FGVIGeneratorBase`.
        init_weights (bool): see :class:`E2FGVIGeneratorBase`.
    """

    size_divisor: IntPair = E2FGVI_HQ_SIZE_DIVISOR

    def __init__(self, spynet_pretrained: Optional[str] = None, init_weights: bool = True) -> None:
        super().__init__(None, spynet_pretrained, init_weights)

    def check_size(self, height: int, width: int) -> None:
        """Raise ValueError unless height and width are multiples of (60, 108)."""
        div_h, div_w = self.size_divisor
        if height % div_h or width % div_w or height == 0 or width == 0:
            raise ValueError(f'E2FGVIHQGenerator needs frame sizes divisible by ({div_h}, {div_w}); got '
                             f'{height}x{width}. Pad the masked frames with '
                             'seg.models.inpainters.padding.mirror_pad_to_multiple(frames, '
                             f'({div_h}, {div_w})) and crop the prediction back to [..., :{height}, :{width}]')
