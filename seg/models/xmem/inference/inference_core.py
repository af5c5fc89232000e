"""XMem's inference core: one call per frame, memories kept between calls.

Usage, as the official ``eval.py`` drives it::

    core = XMemInferenceCore(network.eval(), config)       # config: DEFAULT_INFERENCE_CONFIG + overrides
    for t, frame in enumerate(frames):                     # (3, H, W) ImageNet-normalised RGB
        if masks_given_at(t):
            core.set_all_labels(all_labels)                 # every label seen so far, 1..N
            prob = core.step(frame, mask, valid_labels)     # mask (N, H, W); valid_labels: labels it annotates
        else:
            prob = core.step(frame, end=(t == last))
        # prob (1 + N, H, W): background, then object 1..N

Official numerics are the default, including two quirks: a group of objects
that appears later has its values aligned to the *last* keys in memory (so,
after working memory is trimmed, they can be paired with other frames' keys),
and the top-k softmax exponentiates without subtracting the maximum. Beyond
the official code: obsolete-token removal works with several object groups (new
objects mid-video with long-term memory on), nothing breaks when
``max_long_term_elements`` is a multiple of ``num_prototypes``, and
``max_internal_size`` processes large frames at a reduced size (the shorter
side scaled down to it) and returns probabilities at the input size.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from seg.fileio.errors import InputError
from ..aggregate import aggregate
from .memory_manager import MemoryManager

#: Frames are zero-padded to a multiple of this (the network's stride).
PAD_MULTIPLE = 16
#: The official evaluation defaults (``eval.py``); ``max_internal_size`` −1 keeps the input size.
DEFAULT_INFERENCE_CONFIG: Dict = dict(
    top_k=30, mem_every=5, deep_update_every=-1, enable_long_term=True, enable_long_term_count_usage=True,
    max_mid_term_frames=10, min_mid_term_frames=5, num_prototypes=128, max_long_term_elements=10000,
    max_internal_size=-1)


class TrackingInputError(InputError):
    """A frame or mask given to the tracker does not fit (size, labels, missing first mask)."""


def pad_to_multiple(x: Tensor, multiple: int = PAD_MULTIPLE) -> Tuple[Tensor, Tuple[int, int, int, int]]:
    """Zero-pad the last two dims to multiples of ``multiple``: floor half top/left, the rest bottom/right.

    Returns the padded tensor and (left, right, top, bottom).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    pad = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    return F.pad(x, pad), pad


def unpad(x: Tensor, pad: Tuple[int, int, int, int]) -> Tensor:
    """Undo :func:`pad_to_multiple` on (..., H, W)."""
    left, right, top, bottom = pad
    return x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]


class XMemInferenceCore:
    """Segment a video frame by frame with XMem's sensory, working and long-term memory.

    Args:
        network: an :class:`~seg.models.xmem.XMem` in eval mode.
        config: overrides of :data:`DEFAULT_INFERENCE_CONFIG` (``top_k``, ``mem_every``,
            ``deep_update_every`` (< 0: deep update on memory frames), ``enable_long_term``,
            ``enable_long_term_count_usage``, ``max_mid_term_frames``, ``min_mid_term_frames``,
            ``num_prototypes``, ``max_long_term_elements``, ``max_internal_size``: -1, or the shorter side in
            pixels (at least :data:`PAD_MULTIPLE`) that larger frames are scaled down to).

    Raises:
        TrackingInputError: an unknown setting, or a ``max_internal_size`` that is neither.
    """

    def __init__(self, network, config: Optional[Dict] = None):
        unknown = set(config or {}) - set(DEFAULT_INFERENCE_CONFIG) - {'key_dim', 'value_dim', 'hidden_dim',
                                                                       'single_object'}
        if unknown:
            raise TrackingInputError(f'unknown XMem inference settings {sorted(unknown)}; known: '
                                     f'{sorted(DEFAULT_INFERENCE_CONFIG)}')
        self.config = {**DEFAULT_INFERENCE_CONFIG, **(config or {}), 'hidden_dim': network.hidden_dim}
        internal = self.config['max_internal_size']
        if isinstance(internal, bool) or not isinstance(internal, int) or not (internal == -1 or
                                                                              internal >= PAD_MULTIPLE):
            raise TrackingInputError(f'max_internal_size must be -1 (process frames at their own size) or a '
                                     f'shorter-side length of at least {PAD_MULTIPLE} pixels, got {internal!r}')
        self.network = network
        self.mem_every = self.config['mem_every']
        self.deep_update_every = self.config['deep_update_every']
        self.enable_long_term = self.config['enable_long_term']
        self.deep_update_sync = self.deep_update_every < 0
        self.max_internal_size = self.config['max_internal_size']
        self.all_labels: Optional[List[int]] = None
        self.clear_memory()

    def clear_memory(self) -> None:
        """Forget the video (memories, hidden state, frame counter)."""
        self.curr_ti = -1
        self.last_mem_ti = 0
        self.last_deep_update_ti = -self.deep_update_every
        self.memory = MemoryManager(self.config)
        self.frame_size: Optional[Tuple[int, int]] = None

    def set_all_labels(self, all_labels: Sequence[int]) -> None:
        """Every object label given so far (1..N, in order)."""
        labels = list(all_labels)
        if labels != list(range(1, len(labels) + 1)):
            raise TrackingInputError(f'object labels must be 1..N in order, got {labels}; map the mask ids to '
                                     f'consecutive labels first (ObjectManager does)')
        if self.all_labels is not None and labels[:len(self.all_labels)] != self.all_labels:
            raise TrackingInputError(f'labels {labels} drop objects already tracked ({self.all_labels})')
        self.all_labels = labels

    def _check(self, image: Tensor, mask: Optional[Tensor], valid_labels: Optional[Sequence[int]]) -> None:
        if image.dim() != 3 or image.shape[0] != 3:
            raise TrackingInputError(f'a frame must be (3, H, W), got shape {tuple(image.shape)}')
        size = tuple(image.shape[-2:])
        if self.frame_size is not None and size != self.frame_size:
            raise TrackingInputError(f'frame {self.curr_ti + 1} is {size[0]}x{size[1]} but the video is '
                                     f'{self.frame_size[0]}x{self.frame_size[1]}; resize frames to one size')
        if self.curr_ti < 0 and mask is None:
            raise TrackingInputError('the first frame needs a mask: give the objects to track on frame 0')
        if mask is None:
            if valid_labels is not None:
                raise TrackingInputError('valid_labels were given without a mask')
            return
        if self.all_labels is None:
            raise TrackingInputError('call set_all_labels(labels) before giving a mask')
        if mask.dim() != 3 or tuple(mask.shape[-2:]) != size:
            raise TrackingInputError(f'mask of frame {self.curr_ti + 1} has shape {tuple(mask.shape)}; it must be '
                                     f'(N, {size[0]}, {size[1]}), the frame size')
        if mask.shape[0] != len(self.all_labels):
            raise TrackingInputError(f'mask of frame {self.curr_ti + 1} has {mask.shape[0]} channels for '
                                     f'{len(self.all_labels)} labels {self.all_labels}')
        if valid_labels is not None and not set(valid_labels) <= set(self.all_labels):
            raise TrackingInputError(f'valid_labels {list(valid_labels)} include labels not in {self.all_labels}')

    def _internal_size(self, size: Tuple[int, int]) -> Optional[Tuple[int, int]]:
        if self.max_internal_size <= 0 or min(size) <= self.max_internal_size:
            return None
        scale = self.max_internal_size / min(size)
        return round(size[0] * scale), round(size[1] * scale)

    def step(self, image: Tensor, mask: Optional[Tensor] = None, valid_labels: Optional[Sequence[int]] = None,
             end: bool = False) -> Tensor:
        """Process the next frame.

        Args:
            image: (3, H, W) ImageNet-normalised RGB.
            mask: (N, H, W) 0/1 (or soft) masks of all N labels, given on frames where objects are
                annotated; channels of labels not in ``valid_labels`` are ignored (predicted instead).
            valid_labels: labels annotated by ``mask`` (None: all).
            end: the last frame (nothing is memorised).

        Returns:
            (1 + N, H, W) probabilities, background first; N = the labels known so far.
        """
        self._check(image, mask, valid_labels)
        self.frame_size = tuple(image.shape[-2:])
        internal = self._internal_size(self.frame_size)
        if internal is not None:
            image = F.interpolate(image[None], size=internal, mode='bilinear', align_corners=False)[0]
            if mask is not None:
                mask = F.interpolate(mask[None].float(), size=internal, mode='bilinear', align_corners=False)[0]
        prob = self._step(image, mask, valid_labels, end)
        if internal is not None:
            prob = F.interpolate(prob[None], size=self.frame_size, mode='bilinear', align_corners=False)[0]
        return prob

    def _step(self, image: Tensor, mask: Optional[Tensor], valid_labels: Optional[Sequence[int]],
              end: bool) -> Tensor:
        self.curr_ti += 1
        image, pad = pad_to_multiple(image)
        image = image.unsqueeze(0)
        is_mem_frame = (self.curr_ti - self.last_mem_ti >= self.mem_every or mask is not None) and not end
        need_segment = self.curr_ti > 0 and (valid_labels is None or len(self.all_labels) != len(valid_labels))
        is_deep_update = ((self.deep_update_sync and is_mem_frame) or
                          (not self.deep_update_sync and
                           self.curr_ti - self.last_deep_update_ti >= self.deep_update_every)) and not end
        is_normal_update = (not self.deep_update_sync or not is_deep_update) and not end

        key, shrinkage, selection, f16, f8, f4 = self.network.encode_key(
            image, need_ek=self.enable_long_term or need_segment, need_sk=is_mem_frame)

        pred_with_bg = pred_no_bg = None
        if need_segment:
            readout = self.memory.match_memory(key, selection).unsqueeze(0)
            hidden, _, pred_with_bg = self.network.segment((f16, f8, f4), readout, self.memory.get_hidden(),
                                                           h_out=is_normal_update, strip_bg=False)
            pred_with_bg = pred_with_bg[0]
            pred_no_bg = pred_with_bg[1:]
            if is_normal_update:
                self.memory.set_hidden(hidden)

        if mask is not None:
            mask, _ = pad_to_multiple(mask)
            if pred_no_bg is not None:
                pred_no_bg[:, mask.sum(0) > 0.5] = 0
                mask = mask.type_as(pred_no_bg).clone()
                if valid_labels is not None:
                    unlabelled = [i for i in range(pred_no_bg.shape[0]) if i + 1 not in valid_labels]
                    mask[unlabelled] = pred_no_bg[unlabelled]
            pred_with_bg = aggregate(mask, dim=0)
            self.memory.create_hidden_state(len(self.all_labels), key)

        if is_mem_frame:
            value, hidden = self.network.encode_value(image, f16, self.memory.get_hidden(),
                                                      pred_with_bg[1:].unsqueeze(0), is_deep_update=is_deep_update)
            self.memory.add_memory(key, shrinkage, value, self.all_labels,
                                   selection=selection if self.enable_long_term else None)
            self.last_mem_ti = self.curr_ti
            if is_deep_update:
                self.memory.set_hidden(hidden)
                self.last_deep_update_ti = self.curr_ti
        return unpad(pred_with_bg, pad)
