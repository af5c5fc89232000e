"""ProPainter stage 1: train the recurrent flow completion net against a frozen RAFT (official ``trainer_flow_w_edge``).

One iteration, with the L local frames of a clip and their masks (1 = hole):

1. ground-truth flows both ways: the data samples' ``flows_forward`` /
   ``flows_backward`` when the dataset loads precomputed flows, else a frozen
   RAFT on the frames (float32, no gradients);
2. target edges: Canny on each direction's flow magnitude
   (:func:`~seg.models.propainter.flow_edges.flow_edges`);
3. the net completes the masked flows of both directions and predicts edges;
4. ``loss_flow`` (hole and valid L1) and ``loss_smooth`` (first- and
   second-order Charbonnier in the hole), both times ``flow_weight``;
   ``loss_warp`` (census warp distance) times ``warp_weight``; ``loss_edge``
   times ``edge_weight`` (:mod:`~seg.models.propainter.flow_completion_losses`).

Checkpoints hold the net under ``flow_net.*`` only (what
``load_flow_completion`` reads); RAFT is loaded from its own file.
Evaluation (``predict``) completes each whole test video's flows and hands the
completed and ground-truth flows to ``FlowCompletionMetric`` (end-point errors).
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement
from torch import Tensor

from seg.models.inpainters.video_inpainting_gan import hole_masks, reduced_losses
from seg.models.utils.non_finite_loss import check_finite_losses
from seg.registry import MODELS

from .flow_completion_losses import edge_loss, flow_completion_losses
from .flow_edges import flow_edges
from .frozen_networks import FrozenNetworks, build_flow_estimator, estimate_flows

BEFORE_BACKWARD = 'found before the backward pass; no weights were updated'


def given_flows(data_samples: Sequence[BaseDataElement]) -> Optional[Tuple[Tensor, Tensor]]:
    """The samples' precomputed ``(flows_forward, flows_backward)`` stacked to (B, N, 2, H, W), or None."""
    if not all('flows_forward' in sample and 'flows_backward' in sample for sample in data_samples):
        return None
    return (torch.stack([sample.flows_forward for sample in data_samples]).float(),
            torch.stack([sample.flows_backward for sample in data_samples]).float())


@MODELS.register_module()
class FlowCompletionModel(BaseModel):
    """Recurrent flow completion net trained as ProPainter's stage 1 (see the module docstring).

    Args:
        flow_net: config of the trained ``RecurrentFlowCompleteNet``.
        flow_estimator: config of the frozen ``BidirectionalRAFT`` for clips
            without precomputed flows; None needs every batch to carry
            ``flows_forward`` / ``flows_backward``.
        raft_checkpoint: local RAFT weights (ProPainter's ``raft-things.pth``);
            None keeps a random RAFT (toys, tests).
        num_local_frames: L, the local frames at the start of each training clip
            (official 10); the flows are those of these frames.
        flow_weight: weight of ``loss_flow`` and ``loss_smooth`` (official 0.25).
        warp_weight: weight of ``loss_warp`` (official 0.01).
        edge_weight: weight of ``loss_edge`` (official 1).
        data_preprocessor: config; default ``VideoInpaintingDataPreprocessor``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 flow_net: ConfigType = dict(type='RecurrentFlowCompleteNet'),
                 flow_estimator: OptConfigType = dict(type='BidirectionalRAFT', raft=dict(type='RAFT'), iters=20),
                 raft_checkpoint: Optional[str] = None,
                 num_local_frames: int = 10,
                 flow_weight: float = 0.25,
                 warp_weight: float = 0.01,
                 edge_weight: float = 1.0,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        preprocessor = MODELS.build(data_preprocessor or dict(type='VideoInpaintingDataPreprocessor'))
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        weights = dict(flow_weight=flow_weight, warp_weight=warp_weight, edge_weight=edge_weight)
        negative = {name: value for name, value in weights.items() if value < 0}
        if negative:
            raise ValueError(f'loss weights must be >= 0, got {negative}')
        if num_local_frames < 2:
            raise ValueError(f'num_local_frames must be >= 2 (flows join consecutive frames), got {num_local_frames}')
        self.flow_net = MODELS.build(flow_net)
        self.frozen = FrozenNetworks()
        if flow_estimator is not None:
            self.frozen['flow_estimator'] = build_flow_estimator(flow_estimator, raft_checkpoint,
                                                                 'model.raft_checkpoint')
        self.num_local_frames = num_local_frames
        self.flow_weight = flow_weight
        self.warp_weight = warp_weight
        self.edge_weight = edge_weight

    def _apply(self, fn, recurse: bool = True) -> 'FlowCompletionModel':
        """Move / cast the frozen RAFT together with the model."""
        super()._apply(fn, recurse)
        self.frozen.apply(fn)
        return self

    def ground_truth_flows(self, frames: Tensor, data_samples: Sequence[BaseDataElement]) -> Tuple[Tensor, Tensor]:
        """Precomputed flows of the samples if they carry them, else the frozen RAFT's on ``frames``.

        Args:
            frames: (B, T, 3, H, W) in [-1, 1].
            data_samples: B samples, optionally with ``flows_forward`` / ``flows_backward`` (T-1, 2, H, W).

        Returns:
            tuple: ``(forward, backward)``, each (B, T-1, 2, H, W) px, float32.
        """
        flows = given_flows(data_samples)
        if flows is not None:
            expected = (frames.shape[0], frames.shape[1] - 1, 2, *frames.shape[-2:])
            if tuple(flows[0].shape) != expected or tuple(flows[1].shape) != expected:
                raise ValueError(f'precomputed flows {tuple(flows[0].shape)} / {tuple(flows[1].shape)} do not fit '
                                 f'frames {tuple(frames.shape)}: expected {expected} (one flow per consecutive pair '
                                 'of the frames the model completes)')
            return flows
        if 'flow_estimator' not in self.frozen:
            raise ValueError(f'{type(self).__name__} was built without a flow_estimator, but the batch has no '
                             'flows_forward / flows_backward: load precomputed flows in the dataset or configure '
                             'model.flow_estimator=dict(type=\'BidirectionalRAFT\', ...)')
        return estimate_flows(self.frozen['flow_estimator'], frames)

    def loss(self, inputs: Tensor, data_samples: Sequence[BaseDataElement]) -> Dict[str, Tensor]:
        """The weighted stage-1 terms of one batch.

        Args:
            inputs: (B, T, 3, H, W) frames in [-1, 1], the first ``num_local_frames`` local.
            data_samples: B samples with ``masks`` (T, 1, H, W) and optionally the
                local frames' ``flows_forward`` / ``flows_backward`` (L-1, 2, H, W).

        Returns:
            dict: ``loss_flow``, ``loss_smooth``, ``loss_warp``, ``loss_edge``.
        """
        num_local = self.num_local_frames
        if inputs.shape[1] < num_local:
            raise ValueError(f'training clips have {inputs.shape[1]} frames, fewer than num_local_frames='
                             f'{num_local}; make the dataset\'s num_local_frames match the model\'s')
        frames = inputs[:, :num_local]
        masks = hole_masks(data_samples)[:, :num_local].contiguous()
        gt_flows = self.ground_truth_flows(frames, data_samples)
        gt_edges = (flow_edges(gt_flows[0]), flow_edges(gt_flows[1]))
        pred_flows, pred_edges = self.flow_net.forward_bidirect_flow(gt_flows, masks)
        reconstruction, smoothness, warp = flow_completion_losses(pred_flows, gt_flows, masks, frames)
        return OrderedDict(loss_flow=reconstruction * self.flow_weight,
                           loss_smooth=smoothness * self.flow_weight,
                           loss_warp=warp * self.warp_weight,
                           loss_edge=edge_loss(pred_edges, gt_edges, masks) * self.edge_weight)

    def train_step(self, data: dict, optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One official iteration; every term is checked for NaN / infinity before the backward pass.

        Returns:
            dict: the four terms and their sum ``loss``, averaged over processes.

        Raises:
            NonFiniteLossError: a term is NaN or infinite (named in the message).
        """
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = self.loss(data['inputs'], data['data_samples'])
        log_vars = reduced_losses(losses)
        check_finite_losses(log_vars, BEFORE_BACKWARD)
        optim_wrapper.update_params(sum(losses.values()))
        log_vars['loss'] = sum(log_vars.values())
        return log_vars

    def forward(self, inputs: Tensor, data_samples: Sequence[BaseDataElement], mode: str = 'tensor'):
        """``'loss'``: :meth:`loss`; ``'predict'``: :meth:`predict`; ``'tensor'``: completed flows of the clips."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.complete_flows(inputs, data_samples)[0]
        raise ValueError(f'{type(self).__name__}.forward supports \'loss\', \'predict\' and \'tensor\', got {mode!r}')

    @torch.no_grad()
    def complete_flows(self, inputs: Tensor, data_samples: Sequence[BaseDataElement]
                       ) -> Tuple[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor]]:
        """Completed and ground-truth flows of whole clips (eval mode: no edges).

        Returns:
            tuple: ``((completed_forward, completed_backward), (gt_forward, gt_backward))``,
            each (B, T-1, 2, H, W) px; completed flows keep the ground truth
            outside the holes (``combine_flow``), as the official evaluation.
        """
        masks = hole_masks(data_samples)
        gt_flows = self.ground_truth_flows(inputs, data_samples)
        pred_flows, _ = self.flow_net.forward_bidirect_flow(gt_flows, masks)
        return self.flow_net.combine_flow(gt_flows, pred_flows, masks), gt_flows

    def predict(self, inputs: Tensor, data_samples: Sequence[BaseDataElement]) -> List[BaseDataElement]:
        """Complete each whole video's flows, for ``FlowCompletionMetric``.

        Args:
            inputs: (B, T, 3, H, W) frames in [-1, 1].
            data_samples: B samples with ``masks`` (T, 1, H, W).

        Returns:
            list[BaseDataElement]: the samples with ``pred_flows_forward`` /
            ``pred_flows_backward`` (completed) and ``gt_flows_forward`` /
            ``gt_flows_backward``, each (T-1, 2, H, W) float32 px on the CPU.
        """
        for index, sample in enumerate(data_samples):
            (pred_forward, pred_backward), (gt_forward, gt_backward) = self.complete_flows(
                inputs[index:index + 1], [sample])
            sample.pred_flows_forward = pred_forward[0].float().cpu()
            sample.pred_flows_backward = pred_backward[0].float().cpu()
            sample.gt_flows_forward = gt_forward[0].float().cpu()
            sample.gt_flows_backward = gt_backward[0].float().cpu()
        return list(data_samples)
