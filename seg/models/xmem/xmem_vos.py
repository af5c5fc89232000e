"""XMem for mmengine Runners: clip training as XMem's trainer does it, whole-video inference with the memory core."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from seg.registry import MODELS
from ..data_preprocessors import VOSDataPreprocessor
from .xmem import XMem, load_xmem_checkpoint
from .inference import XMemSession


@MODELS.register_module()
class XMemVOS(BaseModel):
    """Train and evaluate :class:`~seg.models.xmem.XMem`.

    Training (one clip per sample, ``inputs`` and ``data_samples`` from :class:`VOSDataPreprocessor`;
    XMem's ``do_pass``): keys of all frames, values of frame 0 from its ground truth, then for each later
    frame a readout of up to ``num_ref_frames`` memory frames (frame 0 plus random earlier ones once there
    are more), segmentation, and — except for the last frame — its values from the prediction, with a
    deep hidden update with probability ``deep_update_prob``.
    Losses per frame: bootstrapped cross-entropy over each sample's objects plus soft dice. BatchNorm
    stays in eval mode (XMem's trainer keeps the whole network in ``eval()``).

    Prediction (one video per sample, ``DAVISEvalDataset`` items): the objects of the first frame's
    mask (or of ``given_masks``) are tracked with :class:`~seg.models.xmem.inference.XMemSession`
    (``inference`` settings), the session ``seg.apis.track`` drives.

    Args:
        network: XMem config (key_dim, value_dim, hidden_dim, single_object).
        loss_ce: ``BootstrappedCELoss`` config; loss_dice: ``XMemDiceLoss`` config.
        num_ref_frames: memory frames per readout in training (XMem: 2 static, 3 video).
        deep_update_prob: probability of a deep hidden update per memorised frame (0.2).
        inference: overrides of the official inference settings.
        pretrained: a local released network file (``XMem-s012.pth``, ``XMem.pth``, a stage-0 ``network``
            file) loaded strictly into the network by ``init_weights`` (the Runner calls it before
            training; ``load_from`` is for this project's own checkpoints).
        data_preprocessor: config of the batch preparation; default a ``VOSDataPreprocessor`` with
            ImageNet's mean and std.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, network: Optional[dict] = None, loss_ce: Optional[dict] = None,
                 loss_dice: Optional[dict] = None, num_ref_frames: int = 3, deep_update_prob: float = 0.2,
                 inference: Optional[dict] = None, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor or VOSDataPreprocessor(), init_cfg=init_cfg)
        self.pretrained = pretrained
        self.network = XMem(**(network or {}))
        self.loss_ce = MODELS.build(loss_ce or dict(type='BootstrappedCELoss'))
        self.loss_dice = MODELS.build(loss_dice or dict(type='XMemDiceLoss'))
        self.num_ref_frames, self.deep_update_prob = num_ref_frames, deep_update_prob
        self.inference = dict(inference or {})

    def init_weights(self) -> None:
        super().init_weights()
        if self.pretrained:
            self.network.load_official(load_xmem_checkpoint(self.pretrained))

    def train(self, mode: bool = True) -> 'XMemVOS':
        super().train(mode)
        if mode:
            self.network.freeze_bn()
        return self

    def forward(self, inputs: Optional[Tensor] = None, data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor', **batch):
        """``loss`` of a training batch (``inputs``, ``data_samples``) or ``predict`` of an evaluation ``batch``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(**batch)
        raise ValueError(f'XMemVOS supports modes "loss" and "predict", got {mode!r}')

    # ------------------------------------------------------------------ training
    def _memory(self, t: int, key: Tensor, shrinkage: Tensor, values: Tensor):
        """Memory for frame t: all frames before it, or frame 0 plus random earlier ones beyond ``num_ref_frames``."""
        if t <= self.num_ref_frames:
            return key[:, :, :t], shrinkage[:, :, :t], values
        picks = [torch.cat([torch.zeros(1, dtype=torch.long), torch.randperm(t - 1)[:self.num_ref_frames - 1] + 1])
                 for _ in range(key.shape[0])]
        ref_key = torch.stack([key[b, :, idx] for b, idx in enumerate(picks)])
        ref_shrinkage = torch.stack([shrinkage[b, :, idx] for b, idx in enumerate(picks)])
        ref_values = torch.stack([values[b, :, :, idx] for b, idx in enumerate(picks)])
        return ref_key, ref_shrinkage, ref_values

    def loss(self, inputs: Tensor, data_samples: List[BaseDataElement]) -> Dict[str, Tensor]:
        """Losses of one batch of clips.

        Args:
            inputs: (B, T, 3, H, W) float32 ImageNet-normalised frames (``VOSDataPreprocessor``'s output).
            data_samples: B samples of ``VOSClipDataset`` / ``StaticClipDataset`` items: ``first_frame_gt``
                (1, N, H, W) int64 0/1, ``cls_gt`` (T, 1, H, W) int64, ``selector`` (N,) float and the
                metainfo ``num_objects``.

        Returns:
            ``loss_ce`` (bootstrapped cross-entropy) and ``loss_dice``, scalars summed over frames 1..T-1.
        """
        iteration = MessageHub.get_current_instance().get_info('iter', 0)
        net = self.network
        frames = inputs
        first_frame_gt = torch.stack([sample.first_frame_gt for sample in data_samples])
        cls_gt = torch.stack([sample.cls_gt for sample in data_samples])
        selector = torch.stack([sample.selector for sample in data_samples])[:, :, None, None]
        filled = [int(sample.num_objects) for sample in data_samples]
        batch, num_frames = frames.shape[:2]
        num_objects = first_frame_gt.shape[2]
        key, shrinkage, selection, f16, f8, f4 = net.encode_key(frames)
        hidden = frames.new_zeros(batch, num_objects, net.hidden_dim, *key.shape[-2:])
        value, hidden = net.encode_value(frames[:, 0], f16[:, 0], hidden, first_frame_gt[:, 0].float())
        values = value.unsqueeze(3)
        loss_ce = loss_dice = frames.new_zeros(())
        for t in range(1, num_frames):
            last = t == num_frames - 1
            ref_key, ref_shrinkage, ref_values = self._memory(t, key, shrinkage, values)
            readout = net.read_memory(key[:, :, t], selection[:, :, t], ref_key, ref_shrinkage, ref_values)
            hidden, logits, masks = net.segment((f16[:, t], f8[:, t], f4[:, t]), readout, hidden, selector,
                                                h_out=not last)
            if not last:
                deep = bool(np.random.rand() < self.deep_update_prob)
                value, hidden = net.encode_value(frames[:, t], f16[:, t], hidden, masks, is_deep_update=deep)
                values = torch.cat([values, value.unsqueeze(3)], 3)
            for b in range(batch):
                loss_ce = loss_ce + self.loss_ce(logits[b:b + 1, :filled[b] + 1], cls_gt[b:b + 1, t, 0],
                                                 iteration) / batch
            loss_dice = loss_dice + self.loss_dice(masks, cls_gt[:, t, 0])
        return dict(loss_ce=loss_ce, loss_dice=loss_dice)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, frames: List[Sequence[Tensor]], gt: Optional[List[np.ndarray]] = None,
                name: Sequence[str] = (), given_masks: Optional[List[Dict[int, np.ndarray]]] = None,
                **meta) -> List[dict]:
        """Track each video's objects from the masks it gives; results for ``DAVISMetric`` / ``YTVOSSubmissionMetric``.

        Args:
            frames: per video, T frames (3, H, W) ImageNet-normalised (a tensor or a lazy sequence).
            gt: per video, (T, H, W) uint8 ground truth whose first frame gives the objects (DAVIS).
            name: video names.
            given_masks: per video, {frame index: (H, W) uint8 ids}; objects may first appear on any
                of them (YouTube-VOS). Used instead of ``gt[0]`` when given.
            meta: per-video extras copied into the results; with ``save_names`` only the frames of
                ``frame_names`` listed there are kept in ``pred``.

        Returns:
            per video: ``name``, ``pred`` (T', H, W) uint8 ids, ``gt`` when given, and the extras.
        """
        if given_masks is None:
            if gt is None:
                raise ValueError('XMemVOS.predict needs gt (its first frame gives the objects) or given_masks')
            given_masks = [{0: truth[0]} for truth in gt]
        results = []
        for i, (video, given) in enumerate(zip(frames, given_masks)):
            session = XMemSession(self.network, self.inference)
            keep = None
            if 'save_names' in meta and 'frame_names' in meta:
                wanted = set(meta['save_names'][i])
                keep = [n in wanted for n in meta['frame_names'][i]]
            preds = []
            for t in range(len(video)):
                ids = session.step(video[t], given.get(t), end=t == len(video) - 1)
                if keep is None or keep[t]:
                    preds.append(ids)
            result = dict(name=name[i], pred=np.stack(preds))
            if gt is not None:
                result['gt'] = gt[i]
            result.update({k: v[i] for k, v in meta.items()})
            results.append(result)
        return results
