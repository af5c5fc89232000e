"""TMO for mmengine Runners: DAVIS-2016 style evaluation (one salient object per video, J&F) from RGB + flow images."""
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from torch import Tensor

from seg.fileio.palette import binarise_gt
from seg.registry import MODELS
from seg.utils.optical_flow import DIS_PRESETS
from .tmo import TMO, convert_tmo_state_dict, load_tmo_checkpoint
from .flow_images import LAST_FRAME_MODES, render_flow, video_flow_images

#: Defaults of the ``flow`` argument (DIS flow computed when the data gives no flow images).
FLOW_DEFAULTS = dict(preset='medium', last_frame='backward', size=None)


def _unit_rgb(images, what: str, video: str) -> Tensor:
    """(T, 3, H, W) uint8 or float in [0, 1] → float in [0, 1]."""
    images = torch.as_tensor(images)
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f'{video}: {what} must be (T, 3, H, W) RGB; got {tuple(images.shape)}')
    if images.dtype == torch.uint8:
        return images.float() / 255
    images = images.float()
    if images.numel() and (images.min() < -1e-3 or images.max() > 1 + 1e-3):
        raise ValueError(f'{video}: {what} range over [{float(images.min()):.2f}, {float(images.max()):.2f}]; TMO '
                         f'takes RGB in [0, 1] (or uint8), not ImageNet-normalised frames: evaluate with '
                         f'DAVIS16EvalDataset rather than DAVISEvalDataset')
    return images


@MODELS.register_module()
class TMOVOS(BaseModel):
    """Evaluate :class:`~seg.models.tmo.TMO` (unsupervised VOS) on whole videos.

    Per video every frame is segmented on its own from the frame and a flow image, both resized
    to TMO's square input and the logits back to the frame (as the official test does): the
    prediction is 1 where the object is. Flow images come from the data (``flows``, e.g. RAFT's as
    TMO's pre-processed DAVIS has them) or, when none are given, from OpenCV's DIS flow between
    consecutive frames rendered in RAFT's colours (:mod:`seg.models.tmo.flow_images`).

    Weights: ``checkpoint`` (or ``init_cfg=dict(type='Pretrained', checkpoint=...)``) loads a local
    official file strictly with :func:`load_tmo_checkpoint`; ``load_from`` / ``tools/test.py CKPT``
    also accept official files (``vos.*`` and the WACV-2023 names are mapped to ``network.vos.*``).

    Args:
        network: TMO arguments (``aos``, ``input_size``).
        checkpoint: local TMO checkpoint (``TMO_rn101.pth``) to load at construction.
        flow: DIS settings used without given flow images: ``preset`` (ultrafast / fast / medium),
            ``last_frame`` (backward / previous), ``size`` ((h, w) to compute the flow at, None: the frame's).
    """

    def __init__(self, network: Optional[dict] = None, checkpoint: Optional[str] = None,
                 flow: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.network = TMO(**(network or {}))
        unknown = set(flow or {}) - set(FLOW_DEFAULTS)
        if unknown:
            raise ValueError(f'unknown flow settings {sorted(unknown)}; known: {sorted(FLOW_DEFAULTS)}')
        self.flow = dict(FLOW_DEFAULTS, **(flow or {}))
        if self.flow['preset'] not in DIS_PRESETS:
            raise ValueError(f'flow preset must be one of {sorted(DIS_PRESETS)}, got {self.flow["preset"]!r}')
        if self.flow['last_frame'] not in LAST_FRAME_MODES:
            raise ValueError(f'flow last_frame must be one of {LAST_FRAME_MODES}, got {self.flow["last_frame"]!r}')
        self._register_load_state_dict_pre_hook(self._map_official_keys)
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)

    # ------------------------------------------------------------------ weights
    def load_checkpoint(self, path: Union[str, Path]) -> None:
        """Load a local TMO checkpoint into the network (strict; clear errors for a missing or foreign file)."""
        if '://' in str(path):
            raise ValueError(f'TMOVOS loads local checkpoints only, got {path}; download TMO_rn101.pth from the '
                             f'official release (github.com/suhwan-cho/TMO) into checkpoints/')
        load_tmo_checkpoint(self.network, path)

    def init_weights(self) -> None:
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            self.load_checkpoint(self.init_cfg['checkpoint'])
            self._is_init = True
            return
        super().init_weights()

    def _map_official_keys(self, state_dict, prefix, *args) -> None:
        """Rename official TMO keys (``vos.*``, ``module.vos.img_encoder.*``, ...) to ``network.vos.*`` in place."""
        own = prefix + 'network.'
        for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(own)]:
            (converted, value), = convert_tmo_state_dict({key[len(prefix):]: state_dict[key]}).items()
            if converted.startswith('vos.'):
                del state_dict[key]
                state_dict[own + converted] = value

    # ------------------------------------------------------------------ inference
    def forward(self, frames, mode: str = 'tensor', **data):
        if mode == 'predict':
            return self.predict(frames, **data)
        if mode == 'loss':
            raise NotImplementedError('TMOVOS is for evaluation: TMO training (DUTS + DAVIS) is not provided')
        raise ValueError(f'TMOVOS supports mode "predict", got {mode!r}')

    def flow_images(self, frames) -> Tensor:
        """(T, 3, H, W) frames (uint8 or float in [0, 1]) → (T, 3, H, W) uint8 DIS flow images (``flow`` settings)."""
        frames = torch.as_tensor(frames).detach().cpu()
        if frames.dtype != torch.uint8:
            frames = (frames.float() * 255).round().clamp(0, 255).to(torch.uint8)
        images = video_flow_images(frames.permute(0, 2, 3, 1).numpy(), self.flow['preset'], self.flow['last_frame'],
                                   self.flow['size'])
        return torch.from_numpy(images).permute(0, 3, 1, 2)

    @torch.no_grad()
    def predict(self, frames: List[Tensor], gt: List[np.ndarray], name: List[str],
                flows: Optional[Sequence] = None, **meta) -> List[dict]:
        """Segment each video; results for ``DAVISMetric(task='binary')``.

        Args:
            frames: per video (T, 3, H, W) RGB, uint8 or float in [0, 1].
            gt: per video (T, H, W) object ids (255 void); all objects become the foreground 1.
            name: video names.
            flows: per video (T, 3, h, w) flow images (uint8 or float in [0, 1]) or (T, 2, h, w) float flow
                in px (rendered here); None (or a None entry) computes DIS flow.
            meta: more per-video entries copied into the results (``palette``, ``frame_names``).

        Returns:
            per video ``name``, ``pred`` (T, H, W) uint8 (1 object, 0 background), ``gt`` (T, H, W) uint8
            (0 / 1 / 255 void) and the ``meta`` entries.
        """
        device = next(self.network.parameters()).device
        results = []
        for i, video in enumerate(frames):
            rgb = _unit_rgb(video, 'frames', name[i])
            given = None if flows is None else flows[i]
            if given is None:
                flow = self.flow_images(video).float() / 255
            else:
                given = torch.as_tensor(given)
                if given.dim() == 4 and given.shape[1] == 2:
                    given = torch.from_numpy(render_flow(given.float())).permute(0, 3, 1, 2)
                flow = _unit_rgb(given, 'flows', name[i])
            if flow.shape[0] != rgb.shape[0]:
                raise ValueError(f'{name[i]}: {rgb.shape[0]} frames but {flow.shape[0]} flow images')
            preds = []
            for t in range(rgb.shape[0]):
                masks = self.network(rgb[t][None, None].to(device), flow[t][None, None].to(device))['masks']
                preds.append(masks[0, 0, 0].to(torch.uint8).cpu().numpy())
            result = dict(name=name[i], pred=np.stack(preds), gt=binarise_gt(gt[i]))
            result.update({k: v[i] for k, v in meta.items()})
            results.append(result)
        return results
