"""ProPainter stage 2: train the generator with frozen RAFT and flow completion (official ``core/trainer.py``).

One iteration, with T frames per clip (the first L local, the rest references),
frames in [-1, 1] and masks 0/1 (1 = hole):

1. ground-truth flows of the L local frames (the samples' precomputed
   ``flows_forward`` / ``flows_backward``, else the frozen RAFT), completed by the
   frozen flow completion net and combined with the known flow;
2. pixel propagation of the masked local frames along the completed flows
   (``img_propagation``, ``'nearest'`` as the official config); the local
   frames' holes take the propagated pixels and the updated masks;
3. the generator completes all T frames; ``composite`` keeps the known pixels;
4. generator step on hole L1 + valid L1 (area-normalised), the optional VGG
   perceptual / style terms on the raw prediction, and hinge ``-D(composite)``
   times 0.01 with the discriminator frozen;
5. discriminator step on ``(D_loss(real) + D_loss(composite.detach())) / 2``.

Steps 4 and 5 run in the official order (generator first). Every term is checked
for NaN / infinity before the backward pass that would use it.

Inference (``predict``) completes each whole test video as the official
``scripts/evaluate_propainter.py``: flows of the whole video (RAFT unless the
dataset gives them), completed, pixels propagated over the whole video, then
the generator on windows of ``2 * neighbor_stride + 1`` local frames with every
``ref_stride``-th frame as reference; 8-bit truncation, composite with the known
pixels and 0.5 / 0.5 blending of overlapping windows.

Checkpoints hold ``generator.*`` and ``discriminator.*``; the frozen networks are
loaded from their own files. A bare generator state_dict (the released
``ProPainter.pth``) loads into ``generator.*``.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from mmengine.structures import BaseDataElement
from torch import Tensor

from seg.models.inpainters.video_inpainting_gan import (DISCRIMINATOR, GENERATOR, adopt_bare_generator,
                                                     check_optim_wrapper, frozen_parameters, hole_masks,
                                                     reduced_losses)
from seg.models.losses.adversarial_loss import AdversarialLoss
from seg.models.losses.perceptual_loss import DEFAULT_LAYER_WEIGHTS, PerceptualLoss
from seg.models.utils.inpainting_windows import (ALL_REFERENCES, DEFAULT_NEIGHBOR_STRIDE, DEFAULT_REF_STRIDE,
                                                 WindowBlender, sliding_windows)
from seg.models.utils.non_finite_loss import check_finite_losses
from seg.registry import MODELS

from .flow_completion_model import given_flows
from .frozen_networks import FrozenNetworks, build_flow_completion, build_flow_estimator, estimate_flows

#: Frames are scored, and composited by the official evaluation, on the 0..255 scale.
PIXEL_MAX = 255.0
BEFORE_GENERATOR_BACKWARD = 'found before any backward pass; no weights were updated'
BEFORE_DISCRIMINATOR_BACKWARD = ('found after the generator step, before the discriminator\'s backward pass; the '
                                 'discriminator was not updated')
#: Default location of the stage-1 result (the released file has this name).
DEFAULT_FLOW_COMPLETION_CHECKPOINT = 'checkpoints/propainter/recurrent_flow_completion.pth'


@MODELS.register_module()
class ProPainterGAN(BaseModel):
    """ProPainter generator trained against the temporal PatchGAN with frozen flow networks (see the module docstring).

    Args:
        generator: config of the ``ProPainterGenerator``.
        discriminator: config of the temporal PatchGAN (``TemporalPatchDiscriminator``);
            None trains without the adversarial term (official ``no_dis``). Its
            ``use_sigmoid`` follows ``gan_loss`` (off for hinge).
        flow_completion_checkpoint: local weights of the frozen flow completion
            net: the released ``recurrent_flow_completion.pth`` or a stage-1
            checkpoint. Required: a random flow completion net would feed the
            generator garbage flows.
        flow_completion: config of the frozen ``RecurrentFlowCompleteNet``.
        flow_estimator: config of the frozen ``BidirectionalRAFT`` for clips
            without precomputed flows; None needs every batch to carry them.
        raft_checkpoint: local RAFT weights (``raft-things.pth``); None keeps a
            random RAFT (toys, tests; logged).
        num_local_frames: L (official 10).
        hole_weight, valid_weight: weights of the L1 terms (official 1, 1).
        adversarial_weight: weight of the generator's adversarial term (official 0.01).
        gan_loss: ``'hinge'`` (official), ``'nsgan'`` or ``'lsgan'``.
        vgg_weights: local torchvision VGG19 weights for the perceptual / style
            terms; None turns both off whatever their weights (no download).
        perceptual_weight, style_weight: weights of those terms.
        perceptual_layers: VGG19 layer -> weight (default conv3_4 / conv4_4 / conv5_4
            at 0.25 / 0.25 / 0.5).
        propagation_interpolation: sampling of the pixel propagation
            (official ``interp_mode`` ``'nearest'``).
        neighbor_stride: inference: half the local window (official
            ``neighbor_length`` 10 -> 5).
        ref_stride: inference: frames between reference frames (official 10).
        num_ref: inference: -1 for every ``ref_stride``-th frame (official).
        data_preprocessor: config; default ``VideoInpaintingDataPreprocessor``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 generator: ConfigType = dict(type='ProPainterGenerator'),
                 discriminator: OptConfigType = dict(type='TemporalPatchDiscriminator'),
                 flow_completion_checkpoint: str = DEFAULT_FLOW_COMPLETION_CHECKPOINT,
                 flow_completion: ConfigType = dict(type='RecurrentFlowCompleteNet'),
                 flow_estimator: OptConfigType = dict(type='BidirectionalRAFT', raft=dict(type='RAFT'), iters=20),
                 raft_checkpoint: Optional[str] = None,
                 num_local_frames: int = 10,
                 hole_weight: float = 1.0,
                 valid_weight: float = 1.0,
                 adversarial_weight: float = 0.01,
                 gan_loss: str = 'hinge',
                 vgg_weights: Optional[str] = None,
                 perceptual_weight: float = 0.0,
                 style_weight: float = 0.0,
                 perceptual_layers: Optional[Dict[str, float]] = None,
                 propagation_interpolation: str = 'nearest',
                 neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE,
                 ref_stride: int = DEFAULT_REF_STRIDE,
                 num_ref: int = ALL_REFERENCES,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        preprocessor = MODELS.build(data_preprocessor or dict(type='VideoInpaintingDataPreprocessor'))
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        weights = dict(hole_weight=hole_weight, valid_weight=valid_weight, adversarial_weight=adversarial_weight,
                       perceptual_weight=perceptual_weight, style_weight=style_weight)
        negative = {name: value for name, value in weights.items() if value < 0}
        if negative:
            raise ValueError(f'loss weights must be >= 0, got {negative}')
        if num_local_frames < 2:
            raise ValueError(f'num_local_frames must be >= 2 (flows join consecutive frames), got {num_local_frames}')
        self.generator = MODELS.build(generator)
        self.adversarial_loss = AdversarialLoss(gan_loss)
        self.discriminator = None
        if discriminator is not None:
            discriminator = dict(discriminator)
            wanted = self.adversarial_loss.needs_probabilities
            if discriminator.setdefault('use_sigmoid', wanted) != wanted:
                raise ValueError(f'gan_loss={gan_loss!r} needs discriminator.use_sigmoid={wanted}; got '
                                 f'{discriminator["use_sigmoid"]}')
            self.discriminator = MODELS.build(discriminator)
        self.perceptual_loss = None
        if vgg_weights is None:
            if perceptual_weight > 0 or style_weight > 0:
                print_log(f'{type(self).__name__}: model.vgg_weights is None, so the perceptual and style terms are '
                          'off (perceptual_weight / style_weight ignored)', logger='current', level=30)
        elif perceptual_weight > 0 or style_weight > 0:
            self.perceptual_loss = PerceptualLoss(vgg_weights, perceptual_layers or DEFAULT_LAYER_WEIGHTS,
                                                  perceptual_weight, style_weight, config_key='model.vgg_weights')
        self.frozen = FrozenNetworks()
        self.frozen['flow_completion'] = build_flow_completion(flow_completion, flow_completion_checkpoint,
                                                               'model.flow_completion_checkpoint')
        if flow_estimator is not None:
            self.frozen['flow_estimator'] = build_flow_estimator(flow_estimator, raft_checkpoint,
                                                                 'model.raft_checkpoint')
        self.num_local_frames = num_local_frames
        self.hole_weight = hole_weight
        self.valid_weight = valid_weight
        self.adversarial_weight = adversarial_weight
        self.propagation_interpolation = propagation_interpolation
        self.neighbor_stride = neighbor_stride
        self.ref_stride = ref_stride
        self.num_ref = num_ref
        self.register_load_state_dict_pre_hook(adopt_bare_generator)

    @property
    def bare_generator(self) -> nn.Module:
        """The generator without a distributed wrapper."""
        return getattr(self.generator, 'module', self.generator)

    def _apply(self, fn, recurse: bool = True) -> 'ProPainterGAN':
        """Move / cast the frozen networks together with the model."""
        super()._apply(fn, recurse)
        self.frozen.apply(fn)
        return self

    # ------------------------------------------------------------------------------------------
    # Flows and propagation (frozen, float32, no gradients)
    # ------------------------------------------------------------------------------------------
    def completed_flows(self, frames: Tensor, masks: Tensor,
                        data_samples: Sequence[BaseDataElement]) -> Tuple[Tensor, Tensor]:
        """Ground-truth flows of ``frames`` (precomputed or RAFT) completed in the holes by the frozen net.

        Args:
            frames: (B, N, 3, H, W) in [-1, 1].
            masks: (B, N, 1, H, W) holes.
            data_samples: B samples, optionally with ``flows_forward`` / ``flows_backward`` (N-1, 2, H, W).

        Returns:
            tuple: ``(forward, backward)``, each (B, N-1, 2, H, W) px float32.
        """
        flows = given_flows(data_samples)
        if flows is None:
            if 'flow_estimator' not in self.frozen:
                raise ValueError(f'{type(self).__name__} was built without a flow_estimator, but the batch has no '
                                 'flows_forward / flows_backward: load precomputed flows in the dataset or '
                                 'configure model.flow_estimator')
            flows = estimate_flows(self.frozen['flow_estimator'], frames)
        expected = (frames.shape[0], frames.shape[1] - 1, 2, *frames.shape[-2:])
        if tuple(flows[0].shape) != expected or tuple(flows[1].shape) != expected:
            raise ValueError(f'flows {tuple(flows[0].shape)} / {tuple(flows[1].shape)} do not fit frames '
                             f'{tuple(frames.shape)}: expected {expected}')
        flow_completion = self.frozen['flow_completion']
        with torch.no_grad(), torch.autocast(frames.device.type, enabled=False):
            masks = masks.float()
            pred, _ = flow_completion.forward_bidirect_flow(flows, masks)
            return flow_completion.combine_flow(flows, pred, masks)

    def propagate(self, frames: Tensor, masks: Tensor, flows: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
        """Fill the holes of ``frames`` with pixels propagated along ``flows`` (parameter-free, float32).

        Args:
            frames: (B, N, 3, H, W) ground truth in [-1, 1] (only known pixels are read).
            masks: (B, N, 1, H, W) holes.
            flows: completed ``(forward, backward)`` flows, each (B, N-1, 2, H, W).

        Returns:
            tuple: frames (B, N, 3, H, W) with the propagated pixels in the holes,
            and the updated masks (B, N, 1, H, W) (1 where nothing arrived).
        """
        b, n, c, h, w = frames.shape
        with torch.no_grad(), torch.autocast(frames.device.type, enabled=False):
            masked = (frames * (1 - masks)).float()
            propagated, updated_masks = self.bare_generator.img_propagation(
                masked, flows, masks.float(), interpolation=self.propagation_interpolation)
            propagated = propagated.view(b, n, c, h, w)
            filled = frames * (1 - masks) + propagated * masks
        return filled.to(frames.dtype), updated_masks.view(b, n, 1, h, w).to(masks.dtype)

    # ------------------------------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------------------------------
    def _generator_losses(self, frames: Tensor, masks: Tensor, pred: Tensor) -> Dict[str, Tensor]:
        """Weighted hole / valid L1 and, when on, perceptual / style terms (official normalisation)."""
        losses = OrderedDict()
        losses['loss_hole'] = F.l1_loss(pred * masks, frames * masks) / masks.mean() * self.hole_weight
        losses['loss_valid'] = (F.l1_loss(pred * (1 - masks), frames * (1 - masks)) / (1 - masks).mean() *
                                self.valid_weight)
        if self.perceptual_loss is not None:
            perceptual, style = self.perceptual_loss(pred.flatten(0, 1), frames.flatten(0, 1))
            if perceptual is not None:
                losses['loss_perceptual'] = perceptual
            if style is not None:
                losses['loss_style'] = style
        return losses

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """One official iteration (see the module docstring).

        Args:
            data: a collated batch of ``VideoInpaintingDataset`` items (first
                ``num_local_frames`` local), optionally with precomputed flows of
                the local frames.
            optim_wrapper: ``OptimWrapperDict`` with ``generator`` (and
                ``discriminator`` unless there is none).

        Returns:
            dict: ``loss_hole``, ``loss_valid``, ``loss_perceptual`` / ``loss_style``
            (when on), ``loss_gan``, ``loss_dis_real``, ``loss_dis_fake`` (with a
            discriminator; generator terms weighted, the discriminator's not) and
            ``loss`` (the generator's total), averaged over processes.

        Raises:
            NonFiniteLossError: a term is NaN or infinite (named in the message).
        """
        check_optim_wrapper(self, optim_wrapper)
        data = self.data_preprocessor(data, True)
        frames, masks = data['inputs'], hole_masks(data['data_samples'])
        num_local = self.num_local_frames
        b, t, c, h, w = frames.shape
        if t < num_local:
            raise ValueError(f'training clips have {t} frames, fewer than num_local_frames={num_local}; make the '
                             'dataset\'s num_local_frames match the model\'s')
        local_masks = masks[:, :num_local].contiguous()
        flows = self.completed_flows(frames[:, :num_local], local_masks, data['data_samples'])
        propagated, updated_local_masks = self.propagate(frames[:, :num_local], local_masks, flows)
        updated_frames = torch.cat([propagated, (frames * (1 - masks))[:, num_local:]], 1)
        updated_masks = torch.cat([updated_local_masks, masks[:, num_local:]], 1)

        generator_wrapper = optim_wrapper[GENERATOR]
        with generator_wrapper.optim_context(self.generator):
            pred = self.generator(updated_frames, flows, masks, updated_masks, num_local)
            pred = pred.view(b, t, c, h, w)
            composite = frames * (1 - masks) + pred * masks
            generator_losses = self._generator_losses(frames, masks, pred)
        if self.discriminator is not None:
            with frozen_parameters(self.discriminator), generator_wrapper.optim_context(self.generator):
                generator_losses['loss_gan'] = self.adversarial_loss(
                    self.discriminator(composite), is_real=True, for_discriminator=False) * self.adversarial_weight
        log_vars = reduced_losses(generator_losses)
        check_finite_losses(log_vars, BEFORE_GENERATOR_BACKWARD)
        generator_wrapper.update_params(sum(generator_losses.values()))
        log_vars['loss'] = sum(log_vars.values())

        if self.discriminator is not None:
            discriminator_wrapper = optim_wrapper[DISCRIMINATOR]
            with discriminator_wrapper.optim_context(self.discriminator):
                discriminator_losses = OrderedDict(
                    loss_dis_real=self.adversarial_loss(self.discriminator(frames), is_real=True,
                                                        for_discriminator=True),
                    loss_dis_fake=self.adversarial_loss(self.discriminator(composite.detach()), is_real=False,
                                                        for_discriminator=True))
            discriminator_log = reduced_losses(discriminator_losses)
            check_finite_losses(discriminator_log, BEFORE_DISCRIMINATOR_BACKWARD)
            discriminator_wrapper.update_params(sum(discriminator_losses.values()) / len(discriminator_losses))
            log_vars.update(discriminator_log)
        return log_vars

    # ------------------------------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: Sequence[BaseDataElement], mode: str = 'tensor'):
        """``'predict'``: :meth:`predict`; ``'tensor'``: the completed videos (B, T, 3, H, W) in [0, 1].

        The losses need two optimizers, so they live in :meth:`train_step`.
        """
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return torch.stack([self.complete_video(clip, sample) for clip, sample in zip(inputs, data_samples)])
        raise ValueError(f'{type(self).__name__}.forward supports mode \'predict\' and \'tensor\', got {mode!r}; '
                         'training goes through train_step')

    def predict(self, inputs: Tensor, data_samples: Sequence[BaseDataElement]) -> List[BaseDataElement]:
        """Complete every video of the batch (see :meth:`complete_video`).

        Args:
            inputs: (B, T, 3, H, W) frames in [-1, 1].
            data_samples: B samples with ``masks`` (T, 1, H, W); precomputed
                ``flows_forward`` / ``flows_backward`` (T-1, 2, H, W) are used when present.

        Returns:
            list[BaseDataElement]: the samples with ``pred_frames`` (T, 3, H, W)
            float32 in [0, 1] on the CPU, what ``VideoInpaintingMetric`` scores.
        """
        for clip, sample in zip(inputs, data_samples):
            sample.pred_frames = self.complete_video(clip, sample).cpu()
        return list(data_samples)

    @torch.no_grad()
    def complete_video(self, frames: Tensor, sample: BaseDataElement) -> Tensor:
        """Complete one whole video as the official ``evaluate_propainter.py`` (see the module docstring).

        Args:
            frames: (T, 3, H, W) in [-1, 1], H and W multiples of 8.
            sample: its data sample: ``masks`` (T, 1, H, W), optional precomputed flows.

        Returns:
            Tensor: (T, 3, H, W) in [0, 1].
        """
        num_frames = frames.shape[0]
        masks = sample.masks.float()[None]
        video = frames[None]
        flows = self.completed_flows(video, masks, [sample])
        filled, updated_masks = self.propagate(video, masks, flows)
        known = ((frames + 1) / 2 * PIXEL_MAX).round()
        blender = WindowBlender(num_frames, self.neighbor_stride)
        completed: List[Tensor] = []
        for window in sliding_windows(num_frames, self.neighbor_stride, self.ref_stride, self.num_ref):
            ids, local = window.ids, list(window.local)
            window_flows = (flows[0][:, local[:-1]], flows[1][:, local[:-1]])
            pred = self.generator(filled[:, ids], window_flows, masks[:, ids], updated_masks[:, ids], len(local))
            pred = pred.view(-1, *frames.shape[1:])[:len(local)]
            truncated = ((pred + 1) / 2 * PIXEL_MAX).clamp(0, PIXEL_MAX).floor()
            local_masks = masks[0, local]
            blender.add(window, truncated * local_masks + known[local] * (1 - local_masks))
            completed += [frame for _, frame in blender.pop_final()]
        return torch.stack(completed) / PIXEL_MAX
