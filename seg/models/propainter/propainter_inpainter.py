"""ProPainter inference on one self-contained window: RAFT flows, flow completion, propagation, generator."""
from pathlib import Path
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from seg.fileio.errors import InputError
from seg.models.flow import BidirectionalRAFT, load_flow_completion, load_raft
from seg.models.inpainters.padding import mirror_pad_to_multiple
from seg.models.utils.inpainting_windows import check_window_inputs
from seg.registry import MODELS

from .propainter_generator import load_propainter_generator

#: Where the tools look for the release files by default (relative to the working directory).
DEFAULT_WEIGHTS_DIR = Path('checkpoints') / 'propainter'
#: File names of the official release (github.com/sczhou/ProPainter/releases, v0.1.0), by the part they load into.
WEIGHT_FILES = {
    'raft': 'raft-things.pth',
    'flow_completion': 'recurrent_flow_completion.pth',
    'generator': 'ProPainter.pth',
}
#: Height and width the flow completion net and the generator need to be multiples of (two stride-2
#: stages and RAFT's 1/8 grid; the official script crops its frames to multiples of 8).
SIZE_DIVISOR = 8


class ProPainterWeightsError(InputError):
    """The ProPainter release files are missing from the weights folder, or one does not fit its network."""


def weights_layout(weights_dir: Union[str, Path]) -> str:
    """The expected contents of ``weights_dir``, for messages: ``DIR/{raft-things.pth, ...}``."""
    return f'{weights_dir}/{{{", ".join(WEIGHT_FILES.values())}}}'


@MODELS.register_module()
class ProPainterInpainter(nn.Module):
    """Complete one window of frames with ProPainter, following the official ``inference_propainter.py``.

    Steps of :meth:`inpaint_window` on a window of ``n`` consecutive local
    frames followed by reference frames, all at H x W:

    1. frames to [-1, 1]; frames and holes mirror-padded to multiples of
       :data:`SIZE_DIVISOR` (cropped back at the end);
    2. forward and backward RAFT flows between the ``n`` local frames
       (``raft_iters`` iterations, always in float32 as the official script);
    3. flow completion of those flows inside the holes, then composited with the
       known flow (``forward_bidirect_flow`` + ``combine_flow``);
    4. image propagation (``img_propagation``, nearest) of the masked local frames
       along the completed flows, composited into the holes; the holes it could
       not fill become ``masks_updated``;
    5. the generator on the propagated local frames and the masked reference
       frames, with ``masks_in`` (the holes) and ``masks_updated``;
    6. ``(pred + 1) / 2`` in the holes, the input's known pixels elsewhere.

    What differs from the official script: it computes flows, completes them
    (in sub-videos of ``subvideo_length``) and propagates pixels (in sub-videos
    of 100 frames) over the whole video before the generator runs, so every
    frame is in memory at once and a window's local frames see pixels
    propagated from up to 100 frames away. Here each window is self-contained:
    flows, completion and propagation cover only its local frames (typically
    11), so ``seg.apis.inpaint`` can stream windows with memory bounded by the
    window span; reference frames enter the generator masked, with
    ``masks_updated`` equal to their holes (nothing propagated into them). Pixels
    visible only farther than the window's local span reach a hole through the
    generator's references alone.

    RAFT flows of a window's local frames are kept until the next window, and
    the pairs it shares with the previous one (consecutive windows overlap by
    ``n - stride`` frames) are reused when their frames are equal, so RAFT runs
    about once per frame pair and direction.

    Args:
        raft: config of the RAFT network inside ``BidirectionalRAFT``.
        flow_completion: config of the flow completion network.
        generator: config of the ProPainter generator.
        raft_iters: RAFT refinement iterations (official inference: 20).
    """

    def __init__(self,
                 raft: ConfigType = dict(type='RAFT'),
                 flow_completion: ConfigType = dict(type='RecurrentFlowCompleteNet'),
                 generator: ConfigType = dict(type='ProPainterGenerator'),
                 raft_iters: int = 20):
        super().__init__()
        if raft_iters < 1:
            raise ValueError(f'raft_iters must be >= 1, got {raft_iters}')
        self.raft_iters = raft_iters
        self.flow_estimator = BidirectionalRAFT(raft=raft, iters=raft_iters)
        self.flow_completion = MODELS.build(flow_completion)
        self.generator = MODELS.build(generator)
        # Padded local frames (1, n, 3, H', W') of the last window and their raw RAFT flows (2 x (1, n-1, 2, H', W')).
        self._flow_cache: Optional[Tuple[Tensor, Tensor, Tensor]] = None

    def load_weights(self, weights_dir: Union[str, Path] = DEFAULT_WEIGHTS_DIR) -> None:
        """Load the three release files of ``weights_dir`` strictly into RAFT, flow completion and generator.

        Raises:
            ProPainterWeightsError: the folder or any file is missing (all missing files are named), or a
                file does not fit its network (named, with the expected layout).
        """
        weights_dir = Path(weights_dir)
        layout = weights_layout(weights_dir)
        if not weights_dir.is_dir():
            raise ProPainterWeightsError(f'ProPainter weights folder {weights_dir} not found; download '
                                         f'{", ".join(WEIGHT_FILES.values())} from the ProPainter GitHub release '
                                         f'(v0.1.0) into it ({layout}), or give the folder that holds them '
                                         '(--weights-dir)')
        missing = [name for name in WEIGHT_FILES.values() if not (weights_dir / name).is_file()]
        if missing:
            raise ProPainterWeightsError(f'{weights_dir} lacks {", ".join(missing)}; ProPainter needs {layout} '
                                         '(the ProPainter GitHub release files, v0.1.0)')
        parts = (('raft', load_raft, self.flow_estimator.raft),
                 ('flow_completion', load_flow_completion, self.flow_completion),
                 ('generator', load_propainter_generator, self.generator))
        for part, loader, module in parts:
            path = weights_dir / WEIGHT_FILES[part]
            try:
                loaded = loader(str(path))
            except InputError as err:
                raise ProPainterWeightsError(f'{err} (ProPainter expects {layout})') from None
            module.load_state_dict(loaded.state_dict(), strict=True)
        self._flow_cache = None

    def inpaint_window(self, frames: Tensor, masks: Tensor, num_local_frames: int) -> Tensor:
        """Complete the local frames of one window.

        Args:
            frames: (T, 3, H, W) RGB in [0, 1]; the first ``num_local_frames`` are
                consecutive local frames, the rest reference frames.
            masks: (T, 1, H, W) 0/1, 1 = hole.
            num_local_frames: number of local frames, 1 <= n <= T.

        Returns:
            Tensor: (n, 3, H, W) in [0, 1]; holes from the generator, known pixels the input's.
        """
        check_window_inputs(frames, masks, num_local_frames)
        height, width = frames.shape[-2:]
        count = num_local_frames
        frames, masks = frames.float(), masks.float()
        if count == 1:
            # Flows need two frames: the lone local frame is doubled (zero motion) and one copy kept.
            frames, masks = torch.cat([frames[:1], frames]), torch.cat([masks[:1], masks])
            count = 2
        images = mirror_pad_to_multiple(frames * 2 - 1, (SIZE_DIVISOR, SIZE_DIVISOR))[None]
        holes = mirror_pad_to_multiple(masks, (SIZE_DIVISOR, SIZE_DIVISOR))[None]
        with torch.no_grad():
            flows = self._local_flows(images[:, :count])
            local_holes = holes[:, :count]
            completed, _ = self.flow_completion.forward_bidirect_flow(flows, local_holes)
            completed = self.flow_completion.combine_flow(flows, completed, local_holes)
            masked = images * (1 - holes)
            propagated, updated_holes = self.generator.img_propagation(masked[:, :count], completed, local_holes,
                                                                       interpolation='nearest')
            propagated = propagated.view_as(masked[:, :count]).to(masked.dtype)
            updated_holes = updated_holes.view_as(local_holes).to(holes.dtype)
            local_images = masked[:, :count] + propagated * local_holes
            window_images = torch.cat([local_images, masked[:, count:]], dim=1)
            window_updated = torch.cat([updated_holes, holes[:, count:]], dim=1)
            pred = self.generator(window_images, completed, holes, window_updated, count)
        pred = ((pred[0, :num_local_frames, :, :height, :width].float() + 1) / 2).clamp(0, 1)
        local_masks = masks[:num_local_frames]
        return pred * local_masks + frames[:num_local_frames] * (1 - local_masks)

    def _local_flows(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """Forward and backward RAFT flows (1, n-1, 2, H, W) px of ``images`` (1, n, 3, H, W), in float32.

        Pairs already computed for the previous window (the same frames, compared
        exactly) are reused; RAFT runs on the remaining frames only.
        """
        reused = self._cached_prefix(images)
        with torch.autocast(images.device.type, enabled=False):
            if reused is None:
                flows_forward, flows_backward = self.flow_estimator(images)
            else:
                shared = reused[0].shape[1] + 1
                flows_forward, flows_backward = reused
                if shared < images.shape[1]:
                    new_forward, new_backward = self.flow_estimator(images[:, shared - 1:])
                    flows_forward = torch.cat([flows_forward, new_forward], dim=1)
                    flows_backward = torch.cat([flows_backward, new_backward], dim=1)
        flows_forward, flows_backward = flows_forward.float(), flows_backward.float()
        self._flow_cache = (images, flows_forward, flows_backward)
        return flows_forward, flows_backward

    def _cached_prefix(self, images: Tensor) -> Optional[Tuple[Tensor, Tensor]]:
        """Flows of the longest run of ``images``' first frames (2 or more) that the last window ended with.

        Returns:
            (forward, backward), each (1, k-1, 2, H, W), for ``images[:, :k]`` equal to
            the last window's frames ``[o, o + k)``; None when fewer than two frames match.
        """
        if self._flow_cache is None:
            return None
        cached, flows_forward, flows_backward = self._flow_cache
        if cached.shape[2:] != images.shape[2:] or cached.device != images.device:
            return None
        for offset in range(cached.shape[1] - 1):
            shared = min(cached.shape[1] - offset, images.shape[1])
            if torch.equal(cached[:, offset:offset + shared], images[:, :shared]):
                return flows_forward[:, offset:offset + shared - 1], flows_backward[:, offset:offset + shared - 1]
        return None

