"""E2FGVI training as the official trainer runs it, and whole-video inference as its evaluation does.

:class:`VideoInpaintingGAN` holds an E2FGVI generator, an optional temporal
PatchGAN discriminator and the losses. ``train_step`` follows the official
``core/trainer.py`` iteration with two optimizers (mmengine ``OptimWrapperDict``
keys ``generator`` and ``discriminator``); ``val_step`` / ``test_step``
complete whole test videos window by window as the official ``evaluate.py``.
Batches come from ``VideoInpaintingDataPreprocessor``: ``inputs`` (B, T, 3, H, W)
in [-1, 1] and one data sample per clip holding its ``masks`` (T, 1, H, W).

Checkpoints hold ``generator.*`` and ``discriminator.*``. A bare generator
state_dict (the released ``E2FGVI-CVPR22.pth`` / ``E2FGVI-HQ-CVPR22.pth``, or one
written by ``tools/misc/export_inpainter.py``) loads too, e.g. through a config's
``load_from``: its keys are put under ``generator.`` on the way in, and the
discriminator keeps its initialisation. A model built without a discriminator
(the evaluation configs) ignores the ``discriminator.*`` entries it is given.
"""
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, Iterator, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.dist import all_reduce
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from mmengine.structures import BaseDataElement
from torch import Tensor

from seg.models.utils.non_finite_loss import check_finite_losses
from seg.models.losses.adversarial_loss import AdversarialLoss
from seg.models.losses.flow_completion_loss import FlowCompletionLoss, check_spynet_checkpoint
from seg.models.utils.inpainting_windows import (ALL_REFERENCES, DEFAULT_NEIGHBOR_STRIDE, DEFAULT_REF_STRIDE,
                                                 WindowBlender, sliding_windows)
from seg.registry import MODELS

from .padding import mirror_pad_to_multiple

#: Frames are scored, and composited by the official evaluation, on the 0..255 scale.
PIXEL_MAX = 255.0
#: Names of the two players, as attributes and as ``OptimWrapperDict`` keys.
GENERATOR = 'generator'
DISCRIMINATOR = 'discriminator'
BEFORE_ANY_BACKWARD = 'found before any backward pass; no weights were updated'
BEFORE_GENERATOR_BACKWARD = ('found after the discriminator step, before the generator\'s backward pass; the '
                             'generator was not updated')


def hole_masks(data_samples: Sequence[BaseDataElement]) -> Tensor:
    """The data samples' ``masks`` stacked to (B, T, 1, H, W), 0/1 with 1 = hole."""
    return torch.stack([sample.masks for sample in data_samples])


def reduced_losses(losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Each term detached and averaged over processes, for the checks and the logs.

    A NaN on one process thus reaches every process, and all of them stop at
    the same check instead of leaving the others waiting in a collective.
    """
    values = torch.stack([value.detach().float().mean() for value in losses.values()])
    all_reduce(values, op='mean')
    return OrderedDict(zip(losses, values.unbind()))


def check_optim_wrapper(model: nn.Module, optim_wrapper: OptimWrapperDict) -> None:
    """Raise KeyError naming the config fix unless ``optim_wrapper`` has the GAN ``model``'s optimisers."""
    needed = [GENERATOR] + ([DISCRIMINATOR] if model.discriminator is not None else [])
    missing = [name for name in needed if name not in optim_wrapper]
    if missing:
        raise KeyError(f'{type(model).__name__}.train_step needs an OptimWrapperDict with keys {needed}; missing '
                       f'{missing}. Configure optim_wrapper=dict(constructor=\'MultiOptimWrapperConstructor\', '
                       + ', '.join(f'{name}=dict(optimizer=...)' for name in needed) + ')')


@contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``module``'s parameters for the block, then restore it."""
    params = [p for p in module.parameters() if p.requires_grad]
    for param in params:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in params:
            param.requires_grad_(True)


def adopt_bare_generator(model: nn.Module, state_dict: Dict[str, Tensor], prefix: str, *unused) -> None:
    """Load-state-dict pre-hook: adopt a bare generator state_dict; drop a discriminator the model lacks.

    ``model`` is a GAN with ``generator``, ``discriminator`` (or None) and
    ``bare_generator`` attributes (``VideoInpaintingGAN``, ``ProPainterGAN``).

    A bare generator state_dict (official names) gets its keys put under
    ``generator.``. A model built without a discriminator (the test configs)
    ignores the ``discriminator.*`` entries of a training checkpoint.
    """
    if model.discriminator is None:
        for key in [k for k in state_dict if k.startswith(f'{prefix}{DISCRIMINATOR}.')]:
            del state_dict[key]
    keys = [k for k in state_dict if k.startswith(prefix)]
    players = tuple(f'{prefix}{name}.' for name in (GENERATOR, DISCRIMINATOR))
    if not keys or any(k.startswith(players) for k in keys):
        return
    generator_keys = set(model.bare_generator.state_dict())
    if not any(k[len(prefix):] in generator_keys for k in keys):
        return
    for key in keys:
        state_dict[f'{prefix}{GENERATOR}.{key[len(prefix):]}'] = state_dict.pop(key)
    print_log(f'{type(model).__name__}: loading a bare generator state_dict ({len(keys)} entries) into '
              f'{GENERATOR}.*; the {DISCRIMINATOR} keeps its initialisation', logger='current')


@MODELS.register_module()
class VideoInpaintingGAN(BaseModel):
    """E2FGVI / E2FGVI-HQ generator trained with hole, valid, flow and adversarial losses (official recipe).

    One training iteration (official ``core/trainer.py``), with ``frames`` in
    [-1, 1] and ``masks`` 0/1 (1 = hole):

    1. the generator completes ``frames * (1 - masks)`` (first
       ``num_local_frames`` local, the rest reference frames); ``composite``
       keeps the known pixels;
    2. hole L1 ``L1(pred·m, x·m) / mean(m)``, valid L1 ``L1(pred·(1-m), x·(1-m)) / mean(1-m)``
       and the flow completion loss, each times its weight;
    3. the discriminator steps on ``(D_loss(real) + D_loss(fake)) / 2`` with the
       detached composite;
    4. the generator steps on the sum of its weighted terms, including the
       adversarial term of the updated discriminator on the composite.

    Every term is checked before the backward pass that would use it: a NaN or
    infinity raises :class:`~seg.models.utils.non_finite_loss.NonFiniteLossError`
    naming it. Terms of steps 2-3 are checked before any backward (nothing has
    changed); the adversarial term can only be checked after the discriminator
    step it depends on (the generator is then still unchanged).

    Inference (``val_step`` / ``test_step``) completes each whole video as the
    official ``evaluate.py``: windows every ``neighbor_stride`` frames with
    their local frames and references
    (:mod:`seg.models.utils.inpainting_windows`), HQ inputs mirror-padded to the
    generator's ``size_divisor``, predictions truncated to 8-bit values and
    composited with the known pixels, frames covered by several windows
    averaged 0.5 / 0.5 in window order.

    Args:
        generator: config of an ``E2FGVIGenerator`` or ``E2FGVIHQGenerator``; its
            ``spynet_pretrained`` (the official generator starts its flow network
            from MMEditing's SPyNet) must exist when given.
        discriminator: config of a ``TemporalPatchDiscriminator``; None trains
            without the adversarial loss (official ``no_dis``). Its ``use_sigmoid``
            is set from ``gan_loss`` (off for hinge), as the official trainer does.
        flow_supervisor: config of the frozen ``SPyNet`` whose ``pretrained`` local
            weights measure the ground-truth flows (official ``FlowCompletionLoss``);
            None trains without the flow loss (then ``flow_weight`` must be 0).
        num_local_frames: l_t, the consecutive local frames at the start of each
            training clip (official 5).
        hole_weight: weight of the hole L1 (official 1).
        valid_weight: weight of the valid L1 (official 1).
        flow_weight: weight of the flow completion loss (official 1).
        adversarial_weight: weight of the generator's adversarial term (official 0.01).
        gan_loss: ``'hinge'`` (official), ``'nsgan'`` or ``'lsgan'``.
        neighbor_stride: inference: frames between window centres (official 5).
        ref_stride: inference: frames between reference frames (official 10).
        num_ref: inference: -1 for every ``ref_stride``-th frame of the video
            (official), or the number of references around each window.
        data_preprocessor: config; default ``VideoInpaintingDataPreprocessor``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 generator: ConfigType,
                 discriminator: OptConfigType = None,
                 flow_supervisor: OptConfigType = None,
                 num_local_frames: int = 5,
                 hole_weight: float = 1.0,
                 valid_weight: float = 1.0,
                 flow_weight: float = 1.0,
                 adversarial_weight: float = 0.01,
                 gan_loss: str = 'hinge',
                 neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE,
                 ref_stride: int = DEFAULT_REF_STRIDE,
                 num_ref: int = ALL_REFERENCES,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        preprocessor = MODELS.build(data_preprocessor or dict(type='VideoInpaintingDataPreprocessor'))
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        weights = dict(hole_weight=hole_weight, valid_weight=valid_weight, flow_weight=flow_weight,
                       adversarial_weight=adversarial_weight)
        negative = {name: value for name, value in weights.items() if value < 0}
        if negative:
            raise ValueError(f'loss weights must be >= 0, got {negative}')
        if num_local_frames < 1:
            raise ValueError(f'num_local_frames must be >= 1, got {num_local_frames}')
        if flow_supervisor is None and flow_weight > 0:
            raise ValueError(f'flow_weight={flow_weight} needs a flow_supervisor (dict(type=\'SPyNet\', '
                             'pretrained=<local .pth>)); set flow_weight=0 to train without the flow completion loss')
        check_spynet_checkpoint(generator.get('spynet_pretrained'), 'generator.spynet_pretrained')
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
        self.flow_loss = None if flow_supervisor is None else FlowCompletionLoss(flow_supervisor)
        self.num_local_frames = num_local_frames
        self.hole_weight = hole_weight
        self.valid_weight = valid_weight
        self.flow_weight = flow_weight
        self.adversarial_weight = adversarial_weight
        self.neighbor_stride = neighbor_stride
        self.ref_stride = ref_stride
        self.num_ref = num_ref
        self.register_load_state_dict_pre_hook(adopt_bare_generator)

    @property
    def bare_generator(self) -> nn.Module:
        """The generator without a distributed wrapper (its attributes: ``size_divisor``, ``fixed_size``)."""
        return getattr(self.generator, 'module', self.generator)

    # ------------------------------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------------------------------
    def _reconstruction_losses(self, frames: Tensor, masks: Tensor, pred: Tensor,
                               pred_flows: Tuple[Tensor, Tensor]) -> Dict[str, Tensor]:
        """Weighted hole / valid L1 and flow completion terms (official normalisation)."""
        losses = OrderedDict()
        losses['loss_hole'] = F.l1_loss(pred * masks, frames * masks) / masks.mean() * self.hole_weight
        losses['loss_valid'] = (F.l1_loss(pred * (1 - masks), frames * (1 - masks)) / (1 - masks).mean() *
                                self.valid_weight)
        if self.flow_loss is not None:
            gt_local = (frames[:, :self.num_local_frames] + 1) / 2
            losses['loss_flow'] = self.flow_loss(pred_flows, gt_local) * self.flow_weight
        return losses

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """One official training iteration (see the class docstring).

        Args:
            data: a collated batch of ``VideoInpaintingDataset`` items (``inputs``
                (T, 3, H, W) uint8, ``data_samples`` with ``masks`` (T, 1, H, W)
                0/1; first ``num_local_frames`` frames local).
            optim_wrapper: ``OptimWrapperDict`` with ``generator`` (and
                ``discriminator`` unless there is none).

        Returns:
            dict: ``loss_hole``, ``loss_valid``, ``loss_flow`` (with a flow
            supervisor), ``loss_gan``, ``loss_dis_real``, ``loss_dis_fake`` (with
            a discriminator; weighted as they enter the generator's loss, the
            discriminator's unweighted) and ``loss`` (the generator's total), each
            averaged over processes.

        Raises:
            NonFiniteLossError: a term is NaN or infinite (see the class docstring).
        """
        check_optim_wrapper(self, optim_wrapper)
        data = self.data_preprocessor(data, True)
        frames, masks = data['inputs'], hole_masks(data['data_samples'])
        b, t, c, h, w = frames.shape
        if t < self.num_local_frames:
            raise ValueError(f'training clips have {t} frames, fewer than num_local_frames={self.num_local_frames}; '
                             'make the dataset\'s num_local_frames match the model\'s')
        generator_wrapper = optim_wrapper[GENERATOR]
        with generator_wrapper.optim_context(self.generator):
            pred, pred_flows = self.generator(frames * (1 - masks), self.num_local_frames)
        pred = pred.view(b, t, c, h, w)
        composite = frames * (1 - masks) + masks * pred
        generator_losses = self._reconstruction_losses(frames, masks, pred, pred_flows)
        log_vars = reduced_losses(generator_losses)

        if self.discriminator is None:
            check_finite_losses(log_vars, BEFORE_ANY_BACKWARD)
        else:
            discriminator_wrapper = optim_wrapper[DISCRIMINATOR]
            with discriminator_wrapper.optim_context(self.discriminator):
                real_scores = self.discriminator(frames)
                fake_scores = self.discriminator(composite.detach())
            discriminator_losses = OrderedDict(
                loss_dis_real=self.adversarial_loss(real_scores, is_real=True, for_discriminator=True),
                loss_dis_fake=self.adversarial_loss(fake_scores, is_real=False, for_discriminator=True))
            discriminator_log = reduced_losses(discriminator_losses)
            check_finite_losses(OrderedDict(**log_vars, **discriminator_log), BEFORE_ANY_BACKWARD)
            discriminator_wrapper.update_params(sum(discriminator_losses.values()) / len(discriminator_losses))

            with frozen_parameters(self.discriminator), generator_wrapper.optim_context(self.generator):
                generator_scores = self.discriminator(composite)
            generator_losses['loss_gan'] = (self.adversarial_loss(generator_scores, is_real=True,
                                                                  for_discriminator=False) * self.adversarial_weight)
            gan_log = reduced_losses(OrderedDict(loss_gan=generator_losses['loss_gan']))
            check_finite_losses(gan_log, BEFORE_GENERATOR_BACKWARD)
            log_vars.update(gan_log)
            log_vars.update(discriminator_log)

        generator_wrapper.update_params(sum(generator_losses.values()))
        log_vars['loss'] = sum(log_vars[name] for name in generator_losses)
        return log_vars

    # ------------------------------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------------------------------
    def forward(self, inputs: Tensor, data_samples: Sequence[BaseDataElement], mode: str = 'tensor'):
        """``'predict'``: :meth:`predict`; ``'tensor'``: the generator's raw output on the clips.

        Args:
            inputs: (B, T, 3, H, W) frames in [-1, 1].
            data_samples: B data samples (the data preprocessor's), each with
                ``masks`` (T, 1, H, W) 0/1, 1 = hole.
            mode: ``'predict'`` or ``'tensor'``; the losses need two optimizers,
                so they live in :meth:`train_step`, not in a ``'loss'`` mode.

        Returns:
            ``'predict'``: the data samples with ``pred_frames``; ``'tensor'``:
            ``(pred (B*T, 3, H, W) in [-1, 1], (flow_forward, flow_backward))``
            with the first ``num_local_frames`` frames local.
        """
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.generator(inputs * (1 - hole_masks(data_samples)), self.num_local_frames)
        raise ValueError(f'{type(self).__name__}.forward supports mode \'predict\' and \'tensor\', got {mode!r}; '
                         'training goes through train_step')

    def predict(self, inputs: Tensor, data_samples: Sequence[BaseDataElement]) -> List[BaseDataElement]:
        """Complete every video of the batch (see :meth:`complete_video`).

        Args:
            inputs: (B, T, 3, H, W) frames in [-1, 1].
            data_samples: B data samples with ``masks`` (T, 1, H, W) 0/1, 1 = hole.

        Returns:
            list[BaseDataElement]: the data samples, their metainfo (``video_name``,
            ``frame_ids``, ``ori_shape``) kept, with ``pred_frames`` (T, 3, H, W)
            float32 in [0, 1] on the CPU added: what ``VideoInpaintingMetric``
            scores against the batch's frames.
        """
        for clip, sample in zip(inputs, data_samples):
            sample.pred_frames = self.complete_video(clip, sample.masks).cpu()
        return list(data_samples)

    @torch.no_grad()
    def complete_video(self, frames: Tensor, masks: Tensor) -> Tensor:
        """Complete one whole video window by window, as the official ``evaluate.py``.

        Args:
            frames: (T, 3, H, W) in [-1, 1] (8-bit values mapped by ``x / 255 * 2 - 1``).
            masks: (T, 1, H, W) 0/1, 1 = hole.

        Returns:
            Tensor: (T, 3, H, W) in [0, 1]: known pixels as given, holes filled
            with the generator's output truncated to 8-bit values; frames in
            several windows averaged 0.5 / 0.5 in window order.
        """
        num_frames = frames.shape[0]
        known = ((frames + 1) / 2 * PIXEL_MAX).round()
        blender = WindowBlender(num_frames, self.neighbor_stride)
        completed: List[Tensor] = []
        for window in sliding_windows(num_frames, self.neighbor_stride, self.ref_stride, self.num_ref):
            pred = self._predict_window(frames[window.ids], masks[window.ids], len(window.local))
            filled = ((pred + 1) / 2 * PIXEL_MAX).clamp(0, PIXEL_MAX).floor()
            local_masks = masks[window.local]
            blender.add(window, filled * local_masks + known[window.local] * (1 - local_masks))
            completed += [frame for _, frame in blender.pop_final()]
        return torch.stack(completed) / PIXEL_MAX

    def _predict_window(self, frames: Tensor, masks: Tensor, num_local: int) -> Tensor:
        """The generator's (num_local, 3, H, W) output in [-1, 1] for one window (mirror-padded for HQ)."""
        height, width = frames.shape[-2:]
        masked = (frames * (1 - masks))[None]
        size_divisor = getattr(self.bare_generator, 'size_divisor', None)
        if size_divisor is not None:
            masked = mirror_pad_to_multiple(masked, tuple(size_divisor))
        pred, _ = self.generator(masked, num_local)
        return pred[:num_local, :, :height, :width]
