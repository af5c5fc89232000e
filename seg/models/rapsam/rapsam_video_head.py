"""RapSAM's shared decoder: object queries for panoptic / video segmentation, prompt queries for SAM-style masks."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmdet.models.layers import coordinate_to_encoding, inverse_sigmoid
from mmdet.models.utils import get_uncertain_point_coords_with_randomness, preprocess_panoptic_gt
from mmdet.structures import SampleList, TrackDataSample
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmdet.utils import OptConfigType, reduce_mean
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from seg.models.rapsam.cross_atten_head import CrossAttenHead, class_logits, hard_mask_pool
from seg.models.rapsam.kernel_updator import KernelUpdator
from seg.models.utils.class_embedding import load_class_embeddings
from seg.models.rapsam.video_panoptic_gt import video_panoptic_gt
from seg.ops import point_sample
from seg.registry import MODELS, TASK_UTILS

# Initial value of the (fixed) log scale of the cosine class logits: exp(4.6052) ≈ 100.
LOGIT_SCALE = 4.6052
# Prompt boxes are jittered in training by ±(PROMPT_NOISE_SCALE · PROMPT_NOISE_FRACTION) of their size.
PROMPT_NOISE_SCALE = 0.4
PROMPT_NOISE_FRACTION = 0.01
# Seed of the random orthogonal vocabulary used when no class-embedding file is given.
RANDOM_VOCABULARY_SEED = 0
# The IoU-regression loss of the prompt path is weighted ×10, as in the official recipe.
IOU_LOSS_WEIGHT = 10.0


def uses_prompts(data_samples: SampleList) -> bool:
    """Whether a batch asks for prompt queries (its samples carry ``gt_instances_collected``)."""
    sample = data_samples[0]
    return not isinstance(sample, TrackDataSample) and 'gt_instances_collected' in sample


@MODELS.register_module()
class RapSAMVideoHead(BaseModule):
    """The RAP-SAM decoder (ICLR'25): ``num_stages`` :class:`CrossAttenHead` stages plus an adaptor.

    Object queries (``kernels``) give panoptic segments for images and mask
    tubes for clips (frames are stacked along the height of the feature map, so
    one query spans the clip). Prompt queries — one per box, a click being a 6×6
    pseudo-box — are built from the box's sine encoding plus a positive/negative
    embedding and a mask token; they attend only to themselves.

    Classification is open-vocabulary: a cosine against class embeddings
    (C classes × S synonyms × D, from ``tools/gen_cls.py``) with an all-zero
    background row, ×100, and for decoder stages ÷ ``temperature``.

    Args:
        num_things_classes: thing classes (the first ones of the vocabulary).
        num_stuff_classes: stuff classes.
        num_queries: object queries.
        num_stages: decoder stages.
        feat_channels: channels of the neck features and the queries.
        num_mask_tokens: mask tokens per prompt (masks proposed per prompt).
        temperature: divides the decoder stages' class logits.
        class_embed_path: the class-embedding file (C, S, D); None gives a random
            orthogonal vocabulary of ``class_embed_dim`` (training from scratch
            without CLIP, e.g. the toy configs).
        class_embed_dim: D when ``class_embed_path`` is None.
        loss_cls, loss_mask, loss_dice: mmdet loss configs; ``loss_cls.class_weight``
            weights the C+1 classes.
        train_cfg: ``assigner``, ``sampler``, ``num_points``, ``oversample_ratio``,
            ``importance_sample_ratio`` (Mask2Former-style point-sampled losses).
        test_cfg: kept for the detector's fusion head.
    """

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 num_queries: int = 100,
                 num_stages: int = 3,
                 feat_channels: int = 256,
                 num_mask_tokens: int = 1,
                 temperature: float = 0.1,
                 class_embed_path: Optional[str] = None,
                 class_embed_dim: int = 768,
                 loss_cls: OptConfigType = None,
                 loss_mask: OptConfigType = None,
                 loss_dice: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg=init_cfg)
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.num_classes = num_things_classes + num_stuff_classes
        self.num_queries = num_queries
        self.num_mask_tokens = num_mask_tokens
        self.temperature = temperature
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.sync_loss_normalisers = True

        if class_embed_path is not None:
            class_embed = load_class_embeddings(class_embed_path, num_classes=self.num_classes)
        else:
            # Fixed seed: the vocabulary is not saved in checkpoints, so every build must draw the same.
            generator = torch.Generator().manual_seed(RANDOM_VOCABULARY_SEED)
            class_embed = torch.linalg.qr(torch.randn(class_embed_dim, self.num_classes, generator=generator))[0]
            class_embed = class_embed.T[:, None].contiguous()
        # ``fc_cls`` keeps the official head's name but is no layer: the vocabulary, (D, C + 1, S) class
        # embeddings with a zero background row, rebuilt at every build and never saved in checkpoints.
        self.register_buffer('fc_cls', torch.empty(0), persistent=False)
        self.set_class_embeddings(class_embed)
        self.register_buffer('logit_scale', torch.tensor(LOGIT_SCALE), persistent=False)
        class_embed_dim = class_embed.size(-1)

        # Official names, kept for the checkpoint keys: ``pb_embedding`` embeds a prompt's ``pb_labels``
        # value (FastSAM2 sends every prompt as a box, label 1), ``kernels`` holds the learned object
        # queries and ``mask_heads`` the decoder stages (each predicts classes and IoU as well as masks).
        self.mask_tokens = nn.Embedding(num_mask_tokens, feat_channels)
        self.pb_embedding = nn.Embedding(2, feat_channels)
        self.pos_linear = nn.Linear(2 * feat_channels, feat_channels)
        self.kernels = nn.Embedding(num_queries, feat_channels)
        self.mask_heads = nn.ModuleList(
            CrossAttenHead(feat_channels, class_embed_dim) for _ in range(num_stages))
        # Adaptor: one more update for object queries (kernel updator) and prompts (cross-attention).
        self.panoptic_attn = KernelUpdator(feat_channels, feat_channels)
        self.panoptic_cls = nn.Sequential(nn.Linear(feat_channels, class_embed_dim))
        self.prompt_attn = MultiheadAttention(feat_channels, num_heads=8, batch_first=True)
        self.prompt_norm = nn.LayerNorm(feat_channels)
        self.prompt_iou = nn.Linear(feat_channels, 1)

        if loss_cls is not None:
            self.class_weight = loss_cls.get('class_weight')
            self.loss_cls = MODELS.build(loss_cls)
            self.loss_mask = MODELS.build(loss_mask)
            self.loss_dice = MODELS.build(loss_dice)
        if train_cfg:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
            self.sampler = TASK_UTILS.build(train_cfg['sampler'], default_args=dict(context=self))
            self.num_points = train_cfg.get('num_points', 12544)
            self.oversample_ratio = train_cfg.get('oversample_ratio', 3.0)
            self.importance_sample_ratio = train_cfg.get('importance_sample_ratio', 0.75)

    def init_weights(self) -> None:
        """Start the panoptic adaptor's masks unsaturated (only matters when training from scratch).

        The adaptor's queries are the LayerNorm + ReLU output of a kernel updator
        and serve directly as mask kernels: with a unit LayerNorm gain their mask
        logits start saturated (std 9.1 against 1.3-1.5 for the decoder stages,
        toy config, 64 channels), where dice gradients vanish. A gain of 1/sqrt(C)
        starts them at the stages' scale. Checkpoints overwrite it.
        """
        super().init_weights()
        nn.init.constant_(self.panoptic_attn.fc_norm.weight, self.panoptic_attn.fc_norm.weight.numel() ** -0.5)

    def set_class_embeddings(self, class_embed: Tensor) -> None:
        """Use a new vocabulary: ``class_embed`` (C, S, D) unit rows; a zero background row is appended.

        C must equal ``num_things_classes + num_stuff_classes``; D must match the
        trained class projection (the CLIP model's text width).
        """
        if class_embed.dim() != 3 or class_embed.size(0) != self.num_classes:
            raise ValueError(f'class embeddings must be (num_classes={self.num_classes}, synonyms, dim); '
                             f'got {tuple(class_embed.shape)}')
        if hasattr(self, 'panoptic_cls') and class_embed.size(-1) != self.panoptic_cls[0].out_features:
            raise ValueError(f'class embeddings have dim {class_embed.size(-1)}, the model was built for '
                             f'{self.panoptic_cls[0].out_features}: use a file made with the same CLIP model')
        background = class_embed.new_zeros(1, *class_embed.shape[1:])
        fc_cls = torch.cat([class_embed, background]).permute(2, 0, 1).contiguous()
        self.fc_cls = fc_cls.to(device=self.fc_cls.device, dtype=torch.float32)

    # ------------------------------------------------------------------ queries
    def prompt_queries(self, data_samples: SampleList) -> Tuple[Tensor, Tensor]:
        """Queries and self-attention mask for the prompts in ``gt_instances_collected``.

        Each sample holds ``point_coords`` (K, 4) xyxy boxes in ``img_shape``
        pixels (clicks as 6×6 boxes) and ``pb_labels`` (K,) in {0, 1}; K must be
        the same for every image of the batch.

        Returns:
            queries (B, K·T, C) with T = ``num_mask_tokens`` and a bool (K·T, K·T)
            mask letting each prompt's tokens see only each other.
        """
        prompts = [s.gt_instances_collected for s in data_samples]
        counts = {len(p) for p in prompts}
        if len(counts) != 1:
            raise ValueError(f'every image of a prompt batch needs the same number of prompts; got {sorted(counts)}')
        boxes = torch.stack([p.point_coords for p in prompts]).float()  # official field name; it holds boxes
        pb_labels = torch.stack([p.pb_labels for p in prompts]).long()
        scale = boxes.new_tensor([[s.metainfo['img_shape'][1], s.metainfo['img_shape'][0]] * 2
                                  for s in data_samples])
        boxes = bbox_xyxy_to_cxcywh(boxes / scale[:, None])
        if self.training:
            size = boxes[..., 2:]
            spread = torch.cat([size / 2, size], dim=-1) * PROMPT_NOISE_FRACTION
            boxes = (boxes + (torch.rand_like(boxes) * 2 - 1) * spread * PROMPT_NOISE_SCALE).clamp(0.0, 1.0)
        tokens = self.num_mask_tokens
        label_embed = self.pb_embedding(pb_labels).repeat_interleave(tokens, 1)
        label_embed = label_embed + self.mask_tokens.weight.repeat(1, pb_labels.size(1), 1)
        box_embed = inverse_sigmoid(boxes).repeat_interleave(tokens, 1)
        # Sine encoding, feat_channels / 2 frequencies per box coordinate (128 for the official 256).
        encoding = coordinate_to_encoding(box_embed.sigmoid(), num_feats=self.pos_linear.in_features // 4)
        queries = label_embed + self.pos_linear(encoding)
        group = torch.arange(queries.size(1), device=queries.device) // tokens
        return queries, group[:, None] != group[None, :]

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor, data_samples: Optional[SampleList],
                prompt_queries: Optional[Tensor] = None) -> Tuple[List[Tensor], List[Tensor], List[Tensor], Tensor]:
        """Decode queries on the neck features.

        Args:
            x: (B·T, C, H, W) stride-4 features (T frames per clip, T = 1 for images).
            data_samples: DetDataSamples (images) or TrackDataSamples (clips); may be
                None when ``prompt_queries`` are given for images.
            prompt_queries: (B, K, C) ready-made prompt queries (e.g. FastSAM2's
                prompt fusion), one token each, decoded on the prompt path
                instead of the boxes of ``gt_instances_collected``.

        Returns:
            Per stage and then the adaptor (``num_stages`` + 1 entries): class
            logits (B, N, C+1), mask logits (B, N, H, W) for images or (B, N, T, H, W)
            for clips, IoU predictions (B, N, 1); and the final queries (B, N, C).
        """
        num_frames = len(data_samples[0]) if data_samples and isinstance(data_samples[0], TrackDataSample) else 0
        bs = x.size(0) // max(num_frames, 1)
        features = x
        if num_frames:
            features = x.unflatten(0, (bs, num_frames)).transpose(1, 2).flatten(2, 3)
        prompt_mode = prompt_queries is not None or uses_prompts(data_samples)
        if prompt_queries is not None:
            queries = prompt_queries
            attn_mask = ~torch.eye(queries.size(1), dtype=torch.bool, device=queries.device)
        elif prompt_mode:
            queries, attn_mask = self.prompt_queries(data_samples)
        else:
            queries, attn_mask = self.kernels.weight[None].repeat(bs, 1, 1), None

        def unstack(masks: Tensor) -> Tensor:
            return masks.unflatten(2, (num_frames, -1)) if num_frames else masks

        all_cls, all_masks, all_ious = [], [], []
        mask_logits = torch.einsum('bnc,bchw->bnhw', queries, features)
        for stage in self.mask_heads:
            cls_logits, mask_logits, iou, queries = stage(features, queries, mask_logits, self.fc_cls,
                                                           self.logit_scale, attn_mask)
            all_cls.append(cls_logits / self.temperature)
            all_masks.append(unstack(mask_logits))
            all_ious.append(iou)

        if prompt_mode:
            keys = features.flatten(2).transpose(1, 2)
            queries = self.prompt_norm(self.prompt_attn(queries, keys))
            all_cls.append(all_cls[-1])
            all_ious.append(self.prompt_iou(queries))
        else:
            queries = self.panoptic_attn(hard_mask_pool(mask_logits, features), queries)
            all_cls.append(class_logits(self.panoptic_cls(queries), self.fc_cls, self.logit_scale))
            all_ious.append(all_ious[-1])
        all_masks.append(unstack(torch.einsum('bnc,bchw->bnhw', queries, features)))
        return all_cls, all_masks, all_ious, queries

    def predict(self, x: Tensor, data_samples: SampleList,
                prompt_queries: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Adaptor outputs with masks resized (bilinear) to ``batch_input_shape`` (see :meth:`forward`).

        Returns:
            class logits (B, N, C+1), mask logits (B, N, H_in, W_in) — (B, N, T, H_in, W_in)
            for clips —, IoU (B, N, 1) and queries (B, N, C).
        """
        all_cls, all_masks, all_ious, queries = self(x, data_samples, prompt_queries)
        first = data_samples[0][0] if isinstance(data_samples[0], TrackDataSample) else data_samples[0]
        size = first.metainfo['batch_input_shape']
        masks = all_masks[-1]
        if masks.dim() == 5:
            masks = F.interpolate(masks.flatten(1, 2), size=size, mode='bilinear', align_corners=False)
            masks = masks.unflatten(1, all_masks[-1].shape[1:3])
        else:
            masks = F.interpolate(masks, size=size, mode='bilinear', align_corners=False)
        return all_cls[-1], masks, all_ious[-1], queries

    # ------------------------------------------------------------------ losses
    def loss(self, x: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of every stage (``d{i}.loss_*``) and the adaptor (``loss_*``).

        Object queries: Hungarian matching on class + point-sampled mask costs,
        then class cross-entropy, mask BCE and dice on sampled points. Prompt
        queries are matched by construction to the prompted segments
        (``gt_instances_collected.masks``): mask BCE, dice, and an IoU regression
        towards 1 − dice (detached).
        """
        if not hasattr(self, 'assigner'):
            raise RuntimeError('RapSAMVideoHead.loss needs train_cfg (assigner, sampler) and the loss configs')
        prompt_mode = uses_prompts(data_samples)
        targets = self._prompt_targets(data_samples) if prompt_mode else self._panoptic_targets(data_samples)
        all_cls, all_masks, all_ious, _ = self(x, data_samples)
        all_masks = [m.flatten(2, 3) if m.dim() == 5 else m for m in all_masks]
        stage_loss = self._prompt_stage_loss if prompt_mode else self._panoptic_stage_loss
        losses = {}
        for i, (cls_logits, masks, ious) in enumerate(zip(all_cls, all_masks, all_ious)):
            prefix = '' if i == len(all_cls) - 1 else f'd{i}.'
            for name, value in stage_loss(cls_logits, masks, ious, targets).items():
                losses[prefix + name] = value
        return losses

    def average_over_processes(self, value: Tensor) -> Tensor:
        """The mean of ``value`` over the processes of a distributed run (mmdet's ``reduce_mean``).

        With ``sync_loss_normalisers = False`` it is ``value`` itself: a model that
        routes tasks per sample (FastSAM2) computes a task's losses only on the
        processes whose batch holds that task, so no collective may run inside them.
        """
        return reduce_mean(value) if self.sync_loss_normalisers else value

    def _panoptic_targets(self, data_samples: SampleList) -> List[InstanceData]:
        targets = []
        for sample in data_samples:
            if isinstance(sample, TrackDataSample):
                frames = [s for s in sample]
                labels, masks = video_panoptic_gt([f.gt_instances for f in frames],
                                                  [f.get('gt_sem_seg') for f in frames],
                                                  self.num_things_classes, self.num_stuff_classes)
                masks = masks.flatten(1, 2)
            else:
                labels, masks = preprocess_panoptic_gt(sample.gt_instances.labels, sample.gt_instances.masks,
                                                       sample.gt_sem_seg.sem_seg if 'gt_sem_seg' in sample else None,
                                                       self.num_things_classes, self.num_stuff_classes)
            targets.append(InstanceData(labels=labels, masks=masks))
        return targets

    @staticmethod
    def _prompt_targets(data_samples: SampleList) -> List[InstanceData]:
        return [InstanceData(masks=s.gt_instances_collected.masks.long()) for s in data_samples]

    def _point_losses(self, mask_logits: Tensor, gt_masks: Tensor, avg_factor: float,
                      per_mask: bool = False) -> Tuple[Tensor, Tensor]:
        """Mask BCE and dice on uncertainty-sampled points of (M, h, w) logits vs (M, H, W) targets."""
        with torch.no_grad():
            points = get_uncertain_point_coords_with_randomness(mask_logits[:, None], None, self.num_points,
                                                                self.oversample_ratio,
                                                                self.importance_sample_ratio)
            point_targets = point_sample(gt_masks[:, None].float(), points).squeeze(1)
        point_logits = point_sample(mask_logits[:, None], points).squeeze(1)
        if per_mask:
            loss_mask = self.loss_mask(point_logits, point_targets, reduction_override='none').mean(1)
            loss_dice = self.loss_dice(point_logits, point_targets, reduction_override='none')
            return loss_mask, loss_dice
        loss_dice = self.loss_dice(point_logits, point_targets, avg_factor=avg_factor)
        loss_mask = self.loss_mask(point_logits.reshape(-1), point_targets.reshape(-1),
                                   avg_factor=avg_factor * self.num_points)
        return loss_mask, loss_dice

    def _panoptic_stage_loss(self, cls_logits: Tensor, mask_logits: Tensor, ious: Tensor,
                             targets: List[InstanceData]) -> Dict[str, Tensor]:
        labels, mask_targets, positive, num_pos = [], [], [], 0
        for cls_i, masks_i, gt in zip(cls_logits, mask_logits, targets):
            label_i, target_i, pos_i = self._match(cls_i.detach(), masks_i.detach(), gt)
            labels.append(label_i)
            mask_targets.append(target_i)
            positive.append(pos_i)
            num_pos += len(target_i)
        labels = torch.stack(labels)
        positive = torch.stack(positive)
        mask_targets = torch.cat(mask_targets)
        class_weight = cls_logits.new_tensor(self.class_weight) if self.class_weight else None
        flat_labels = labels.flatten()
        cls_avg = class_weight[flat_labels].sum() if class_weight is not None else flat_labels.numel()
        loss_cls = self.loss_cls(cls_logits.flatten(0, 1), flat_labels, torch.ones_like(flat_labels).float(),
                                 avg_factor=cls_avg)
        num_total = max(self.average_over_processes(cls_logits.new_tensor([num_pos])).item(), 1.0)
        pos_logits = mask_logits[positive]
        if len(mask_targets) == 0:
            zero = pos_logits.sum()
            return dict(loss_cls=loss_cls, loss_mask=zero, loss_dice=zero, loss_iou=ious.sum() * 0)
        loss_mask, loss_dice = self._point_losses(pos_logits, mask_targets, num_total)
        # Every batch reports the same four losses, so processes of one run log the same keys.
        return dict(loss_cls=loss_cls, loss_mask=loss_mask, loss_dice=loss_dice, loss_iou=ious.sum() * 0)

    def _match(self, cls_logits: Tensor, mask_logits: Tensor, gt: InstanceData) -> Tuple[Tensor, Tensor, Tensor]:
        """Hungarian-match one image's N queries to its segments on shared random points.

        Returns:
            labels (N,) (``num_classes`` = background for unmatched queries), the
            matched queries' target masks (P, H, W) in query order, and a bool (N,)
            positive mask.
        """
        num_queries = cls_logits.size(0)
        points = torch.rand((1, self.num_points, 2), device=cls_logits.device)
        pred_points = point_sample(mask_logits[:, None], points.repeat(num_queries, 1, 1)).squeeze(1)
        gt_points = point_sample(gt.masks[:, None].float(), points.repeat(len(gt), 1, 1)).squeeze(1)
        assign = self.assigner.assign(pred_instances=InstanceData(scores=cls_logits, masks=pred_points),
                                      gt_instances=InstanceData(labels=gt.labels, masks=gt_points))
        sampling = self.sampler.sample(assign_result=assign,
                                       pred_instances=InstanceData(scores=cls_logits, masks=mask_logits),
                                       gt_instances=gt)
        labels = gt.labels.new_full((num_queries,), self.num_classes)
        labels[sampling.pos_inds] = gt.labels[sampling.pos_assigned_gt_inds]
        positive = torch.zeros(num_queries, dtype=torch.bool, device=cls_logits.device)
        positive[sampling.pos_inds] = True
        # The pseudo sampler lists positives in ascending query order, as boolean indexing does.
        return labels, gt.masks[sampling.pos_assigned_gt_inds], positive

    def _prompt_stage_loss(self, cls_logits: Tensor, mask_logits: Tensor, ious: Tensor,
                           targets: List[InstanceData]) -> Dict[str, Tensor]:
        mask_targets = torch.cat([t.masks for t in targets])
        if self.num_mask_tokens > 1:
            mask_targets = mask_targets.repeat_interleave(self.num_mask_tokens, 0)
        logits = mask_logits.flatten(0, 1)
        # The mean over all prompt masks of the batch (the official divides by the prompts of
        # one image, which is the same at its batch size of 1).
        num_total = max(self.average_over_processes(cls_logits.new_tensor([float(logits.size(0))])).item(), 1.0)
        loss_mask, loss_dice = self._point_losses(logits, mask_targets, num_total, per_mask=True)
        iou_target = (1 - loss_dice / self.loss_dice.loss_weight).detach()
        loss_iou = F.mse_loss(ious.flatten(), iou_target, reduction='sum') / num_total * IOU_LOSS_WEIGHT
        return dict(loss_cls=cls_logits.sum() * 0, loss_mask=loss_mask.sum() / num_total,
                    loss_dice=loss_dice.sum() / num_total, loss_iou=loss_iou)
