"""FastSAM2: RapSAM grown into one real-time model for every segmentation task of a video user."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.structures import SampleList, TrackDataSample
from mmdet.structures.mask import BitmapMasks
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from ext.sam.prompt_encoder import PADDING_LABEL, POSITIVE_LABEL
from seg.models.rapsam.rapsam import RapSAM, crop_and_rescale
from seg.models.rapsam.rapsam_video_head import IOU_LOSS_WEIGHT
from seg.registry import MODELS
from .fastsam2_data_preprocessor import FastSAM2DataPreprocessor
from .prompt_fusion import check_prompts

#: Tasks decoded from prompt queries on single images.
IMAGE_PROMPT_TASKS = ('interactive', 'referring')


@MODELS.register_module()
class FastSAM2(RapSAM):
    """RapSAM + :class:`TaskRouter` + :class:`PromptFusion` + :class:`StreamingMemoryAdapter`.

    One forward serves a batch that mixes tasks: the backbone and neck see every
    frame of every sample at once, then the router splits the batch and each
    task decodes its group (batch size > 1 per task):

    - ``panoptic`` images and ``video_instance`` clips: the head's object queries
      (RapSAM's path and losses);
    - ``interactive`` and ``referring`` images: prompt queries from
      :class:`PromptFusion` (points, boxes, masks, sentences) plus a projection
      (``prompt_feature_proj``) of the features under each prompt's region,
      decoded on the head's prompt path: one mask per prompt object;
    - ``vos`` and ``interactive`` clips: the prompted frame's queries start each
      object; later frames read the object's memory
      (:class:`StreamingMemoryAdapter`) and are decoded on the prompt path.

    Losses are logged as ``<task>.<loss>`` and weighted by the router. Every
    parameter takes part in every step (tasks absent from a batch add a
    zero-weighted term), and no loss runs a collective, so DDP needs no
    ``find_unused_parameters`` and processes may hold different tasks.

    A RapSAM checkpoint loads as initialisation: ``backbone``, ``neck`` (a
    :class:`LiteDFPN` with YOSO's settings has YOSONeck's keys) and
    ``panoptic_head`` match; ``prompt_fusion``, ``prompt_feature_proj`` and
    ``memory`` are new.

    Args:
        backbone, neck, panoptic_head, panoptic_fusion_head: as :class:`RapSAM`.
        prompt_fusion: :class:`PromptFusion` config (its ``embed_dim`` is the
            head's ``feat_channels``).
        memory: :class:`StreamingMemoryAdapter` config.
        task_router: :class:`TaskRouter` config (task list, loss weights).
        train_cfg, test_cfg, data_preprocessor, init_cfg: as :class:`RapSAM`.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 panoptic_head: ConfigType,
                 panoptic_fusion_head: ConfigType,
                 prompt_fusion: ConfigType,
                 memory: ConfigType,
                 task_router: ConfigType = dict(type='TaskRouter'),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        super().__init__(backbone, neck, panoptic_head, panoptic_fusion_head, train_cfg, test_cfg,
                         data_preprocessor, init_cfg)
        self.prompt_fusion = MODELS.build(prompt_fusion)
        self.memory = MODELS.build(memory)
        self.task_router = MODELS.build(task_router)
        channels = self.prompt_fusion.embed_dim
        self.prompt_feature_proj = nn.Linear(channels, channels)
        # Task groups differ between processes: their losses must not synchronise.
        self.panoptic_head.sync_loss_normalisers = False

    # ------------------------------------------------------------------ features
    def extract_feat(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) frames (or (B, T, 3, H, W)) → (N, C, H/4, W/4) neck features."""
        if inputs.dim() == 5:
            inputs = inputs.flatten(0, 1)
        return self.neck(self.backbone(inputs))

    @staticmethod
    def _per_sample(feats: Tensor, data_samples: SampleList) -> List[Tensor]:
        counts = FastSAM2DataPreprocessor.frame_counts(data_samples)
        if sum(counts) != feats.size(0):
            raise ValueError(f'the batch holds {sum(counts)} frames but {feats.size(0)} feature maps; use '
                             'FastSAM2DataPreprocessor, which puts every frame of every sample in one batch')
        return list(feats.split(counts))

    # ------------------------------------------------------------------ prompts
    def _prompt_queries(self, prompts: List[InstanceData], frames: List, feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Checked prompts of ``frames`` → (B, K, C) queries and (B, K) valid, coordinates on the padded canvas.

        A query is the prompt fusion's embedding plus ``prompt_feature_proj`` of the
        frame's features (B, C, h, w) averaged over the prompt's region: its mask, box
        and positive clicks (nothing for a text), so a prompt starts from what is there.
        """
        check_prompts(prompts, [tuple(f.metainfo['img_shape'][:2]) for f in frames])
        canvas = [tuple(f.metainfo['batch_input_shape']) for f in frames]
        padded = []
        for prompt, size in zip(prompts, canvas):
            if 'masks' in prompt:
                prompt = prompt.clone()
                masks = prompt.masks.float()
                prompt.masks = F.pad(masks, (0, size[1] - masks.shape[-1], 0, size[0] - masks.shape[-2]))
            padded.append(prompt)
        queries, valid = self.prompt_fusion(padded, canvas)
        regions = queries.new_zeros(queries.shape[:2] + feats.shape[-2:])
        for b, (prompt, size) in enumerate(zip(padded, canvas)):
            region = prompt_regions(prompt, size, feats.shape[-2:])
            regions[b, :len(region)] = region.to(regions)
        pooled = torch.einsum('bkhw,bchw->bkc', regions, feats) / regions.sum((2, 3))[..., None].clamp(min=1.0)
        return queries + self.prompt_feature_proj(pooled), valid

    def _decode(self, feats: Tensor, queries: Tensor) -> Tuple[List[Tensor], List[Tensor], Tensor]:
        """Prompt-path decoding of (B, K, C) queries on (B, C, h, w) features → per-stage masks, IoUs, queries."""
        _, all_masks, all_ious, queries = self.panoptic_head(feats, None, prompt_queries=queries)
        return all_masks, all_ious, queries

    def _decode_frame(self, queries: Tensor, frame_feats: Tensor) -> Tuple[Tensor, Tensor]:
        """The memory adapter's decoder: (K, C) queries on (C, h, w) features → (K, C) queries, (K, h, w) logits."""
        all_masks, _, queries = self._decode(frame_feats[None], queries[None])
        return queries[0], all_masks[-1][0]

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Each task's losses (``<task>.<name>``), weighted by the router."""
        groups = self.task_router.route(data_samples)
        per_sample = self._per_sample(self.extract_feat(inputs), data_samples)
        losses = {}
        for task, indices in groups.items():
            samples = [data_samples[i] for i in indices]
            feats = torch.cat([per_sample[i] for i in indices])
            if task in ('panoptic', 'video_instance'):
                task_losses = self.panoptic_head.loss(feats, samples)
            elif isinstance(samples[0], TrackDataSample):
                task_losses = self._clip_prompt_loss(feats, samples)
            else:
                task_losses = self._image_prompt_loss(feats, samples)
            losses.update(self.task_router.weigh(task, task_losses))
        # Parameters no task of this batch reached join the graph with weight 0 (DDP without
        # find_unused_parameters needs a gradient for every parameter on every process).
        first = next(iter(losses))
        losses[first] = losses[first] + sum(p.sum() for p in self.parameters() if p.requires_grad) * 0
        return losses

    def _image_prompt_loss(self, feats: Tensor, samples: SampleList) -> Dict[str, Tensor]:
        queries, valid = self._prompt_queries([s.prompts for s in samples], samples, feats)
        all_masks, all_ious, _ = self._decode(feats, queries)
        targets = torch.cat([_target_masks(s, k, feats.device) for s, k in zip(samples, valid.sum(1).tolist())])
        losses = {}
        for i, (masks, ious) in enumerate(zip(all_masks, all_ious)):
            prefix = '' if i == len(all_masks) - 1 else f'd{i}.'
            for name, value in self._mask_losses(masks[valid], ious[valid][:, 0], targets).items():
                losses[prefix + name] = value
        return losses

    def _clip_prompt_loss(self, feats: Tensor, samples: SampleList) -> Dict[str, Tensor]:
        logits, targets = [], []
        for clip_feats, sample in zip(feats.split([len(s) for s in samples]), samples):
            start, queries = self._clip_start(sample, clip_feats)
            masks = self.memory(clip_feats[start:], queries, decode=self._decode_frame)  # (T', K, h, w)
            logits.append(masks.flatten(0, 1))
            targets.append(torch.cat([_target_masks(frame, len(queries), feats.device)
                                       for frame in list(sample)[start:]]))
        logits, targets = torch.cat(logits), torch.cat(targets)
        return self._mask_losses(logits, None, targets)

    def _clip_start(self, sample: TrackDataSample, feats: Tensor) -> Tuple[int, Tensor]:
        """The first prompted frame of a clip (features (T, C, h, w)) and its objects' (K, C) queries."""
        for t, frame in enumerate(sample):
            if 'prompts' in frame:
                queries, _ = self._prompt_queries([frame.prompts], [frame], feats[t:t + 1])
                return t, queries[0]
        raise ValueError('a prompted clip has no frame with prompts')

    def _mask_losses(self, logits: Tensor, ious: Optional[Tensor], targets: Tensor) -> Dict[str, Tensor]:
        """Point-sampled mask BCE and dice of (M, h, w) logits against (M, H, W) targets; IoU regression."""
        head = self.panoptic_head
        count = max(float(logits.size(0)), 1.0)
        loss_mask, loss_dice = head._point_losses(logits, targets, count, per_mask=True)
        losses = dict(loss_mask=loss_mask.sum() / count, loss_dice=loss_dice.sum() / count)
        if ious is not None:
            iou_target = (1 - loss_dice / head.loss_dice.loss_weight).detach()
            losses['loss_iou'] = F.mse_loss(ious, iou_target, reduction='sum') / count * IOU_LOSS_WEIGHT
        return losses

    # ------------------------------------------------------------------ inference
    def predict(self, inputs: Tensor, data_samples: SampleList, rescale: bool = True) -> list:
        """Each sample's result in its task's form (``metainfo['task']`` says which).

        - ``panoptic`` / ``video_instance``: as :meth:`RapSAM.predict`.
        - ``interactive`` / ``referring`` images: ``pred_instances.masks`` (K, H, W)
          bool and ``pred_instances.ious`` (K,), one per prompt object.
        - prompted clips (``vos``, ``interactive``): a dict ``task``, ``name``,
          ``pred`` (T, H, W) uint8 object ids (k + 1 for the k-th prompt object,
          0 background), ``gt`` the same from ``gt_instances`` when present,
          ``frame_names`` — what :class:`DAVISMetric` reads.
        Masks are at ``ori_shape`` when ``rescale``, else at ``img_shape``.
        """
        groups = self.task_router.route(data_samples)
        per_sample = self._per_sample(self.extract_feat(inputs), data_samples)
        results = list(data_samples)
        for task, indices in groups.items():
            samples = [data_samples[i] for i in indices]
            feats = torch.cat([per_sample[i] for i in indices])
            if task in ('panoptic', 'video_instance'):
                self.predict_from_features(feats, samples, rescale)
            elif isinstance(samples[0], TrackDataSample):
                for i, clip_feats in zip(indices, feats.split([len(s) for s in samples])):
                    results[i] = self._predict_clip(clip_feats, data_samples[i], rescale)
            else:
                self._predict_image_prompts(feats, samples, rescale)
        return results

    def _predict_image_prompts(self, feats: Tensor, samples: SampleList, rescale: bool) -> None:
        queries, valid = self._prompt_queries([s.prompts for s in samples], samples, feats)
        all_masks, all_ious, _ = self._decode(feats, queries)
        size = samples[0].metainfo['batch_input_shape']
        masks = F.interpolate(all_masks[-1], size=size, mode='bilinear', align_corners=False)
        for sample, logits, ious, keep in zip(samples, masks, all_ious[-1], valid):
            logits = crop_and_rescale(logits[keep], sample.metainfo, rescale)
            sample.pred_instances = InstanceData(masks=logits > 0, ious=ious[keep, 0])

    def _predict_clip(self, feats: Tensor, sample: TrackDataSample, rescale: bool) -> dict:
        """Stream a prompted clip's frames through the memory; ids of the prompt objects per pixel."""
        self.memory.reset()
        frames = list(sample)
        preds, gts = [], []
        for t, frame in enumerate(frames):
            prompts = None
            if 'prompts' in frame:
                queries, _ = self._prompt_queries([frame.prompts], [frame], feats[t:t + 1])
                prompts = {k: q for k, q in enumerate(queries[0])}
            _, logits = self._memory_step(feats[t], frame, prompts, rescale)
            preds.append(ids_from_logits(logits))
            if 'gt_instances' in frame:
                gts.append(ids_from_masks(_bool_masks(frame.gt_instances.masks), frame, rescale))
        self.memory.reset()
        result = dict(task=sample[0].metainfo.get('task', 'vos'), name=_clip_name(sample),
                      pred=torch.stack(preds).cpu().numpy(),
                      frame_names=[f.metainfo.get('frame_name', str(t)) for t, f in enumerate(frames)])
        if len(gts) == len(frames):
            result['gt'] = torch.stack(gts).cpu().numpy()
        return result

    @staticmethod
    def frame_logits(logits: Tensor, frame, rescale: bool) -> Tensor:
        """(K, h, w) stride-4 logits → (K, H, W) at ``ori_shape`` (``rescale``) or ``img_shape``; K may be 0."""
        if logits.size(0) == 0:  # every object removed: interpolation refuses an empty batch
            size = frame.metainfo['ori_shape' if rescale else 'img_shape'][:2]
            return logits.new_zeros((0, *size))
        size = frame.metainfo['batch_input_shape']
        logits = F.interpolate(logits[None], size=size, mode='bilinear', align_corners=False)[0]
        return crop_and_rescale(logits, frame.metainfo, rescale)

    # ------------------------------------------------------------------ streaming
    def stream_step(self, frame_feats: Tensor, frame, prompts: Optional[Dict[int, InstanceData]] = None,
                    remove=()) -> Tuple[List[int], Tensor]:
        """One frame of a video, as its features (C, h, w) and its (processed) frame sample.

        ``prompts`` maps object ids to one-object prompt InstanceData (new objects
        or corrections); objects may differ in their prompt fields (one a click,
        another a box and a text). Returns the ids alive and their mask logits at
        ``ori_shape``. Call ``self.memory.reset()`` before a new video.
        """
        queries = self._object_queries(prompts, frame, frame_feats) if prompts else None
        return self._memory_step(frame_feats, frame, queries, rescale=True, remove=remove)

    def _memory_step(self, frame_feats: Tensor, frame, queries: Optional[Dict[int, Tensor]], rescale: bool,
                     remove=()) -> Tuple[List[int], Tensor]:
        """The memory's step on one frame's (C, h, w) features → ids and their logits at full size.

        With no object tracked and none prompted there is nothing to step: no ids, (0, H, W) logits.
        """
        if queries is None and not self.memory.object_ids:
            ids, logits = [], frame_feats.new_zeros((0, *frame_feats.shape[-2:]))
        else:
            ids, logits = self.memory.step(frame_feats, queries, remove=remove, decode=self._decode_frame)
        return ids, self.frame_logits(logits, frame, rescale)

    def _object_queries(self, prompts: Dict[int, InstanceData], frame, frame_feats: Tensor) -> Dict[int, Tensor]:
        """(C,) query of each object of ``prompts``, fused as one sample per set of prompt fields.

        Objects with the same fields are fused together (their points padded to one
        count with label -1), so a frame whose objects share their fields is fused
        exactly as :meth:`_predict_clip` fuses it.
        """
        groups: Dict[frozenset, List[int]] = {}
        for obj_id in sorted(prompts):
            groups.setdefault(frozenset(prompts[obj_id].keys()), []).append(obj_id)
        queries = {}
        for ids in groups.values():
            fused, _ = self._prompt_queries([_cat_objects([prompts[i] for i in ids])], [frame], frame_feats[None])
            queries.update(zip(ids, fused[0]))
        return dict(sorted(queries.items()))


def _cat_objects(prompts: List[InstanceData]) -> InstanceData:
    """One prompt of the objects of ``prompts`` (the same fields each): points padded to one count with label -1."""
    if len(prompts) == 1 or not all(isinstance(p.get('points'), Tensor) and p.points.dim() == 3 for p in prompts):
        return InstanceData.cat(prompts)  # no points, or points :func:`check_prompts` will refuse
    count = max(p.points.shape[1] for p in prompts)
    padded = []
    for prompt in prompts:
        points = prompt.points
        labels = prompt.point_labels if 'point_labels' in prompt else torch.full(
            points.shape[:2], POSITIVE_LABEL, dtype=torch.long, device=points.device)
        missing = count - points.shape[1]
        prompt = prompt.clone()
        prompt.points = F.pad(points, (0, 0, 0, missing))
        prompt.point_labels = F.pad(labels, (0, missing), value=PADDING_LABEL)
        padded.append(prompt)
    return InstanceData.cat(padded)


def prompt_regions(prompt: InstanceData, canvas: Tuple[int, int], size: Tuple[int, int]) -> Tensor:
    """(K, h, w) weights in [0, 1] of each object's prompted region on an (h, w) feature grid.

    The region is the union (maximum) of the mask prompt (area-resized), the box
    (cells whose centres it covers) and the cells of the positive clicks, for the
    objects that have each (``has_box`` / ``has_mask``); a text gives no region.
    ``canvas`` (H, W) is the padded image the prompts' pixels refer to.
    """
    height, width = canvas
    h, w = size
    num = len(prompt)
    device = next((value.device for value in prompt.values() if isinstance(value, Tensor)), torch.device('cpu'))
    region = torch.zeros(num, h, w, device=device)
    if 'masks' in prompt:
        masks = F.interpolate(prompt.masks.float()[:, None], size=(h, w), mode='area')[:, 0]
        keep = prompt.has_mask if 'has_mask' in prompt else torch.ones(num, dtype=torch.bool, device=device)
        region = torch.maximum(region, masks * keep[:, None, None].to(masks))
    if 'boxes' in prompt:
        ys = (torch.arange(h, device=device) + 0.5) * height / h
        xs = (torch.arange(w, device=device) + 0.5) * width / w
        x1, y1, x2, y2 = prompt.boxes.to(region).unbind(-1)
        inside = ((ys[None, :, None] >= y1[:, None, None]) & (ys[None, :, None] <= y2[:, None, None])
                  & (xs[None, None, :] >= x1[:, None, None]) & (xs[None, None, :] <= x2[:, None, None]))
        keep = prompt.has_box if 'has_box' in prompt else torch.ones(num, dtype=torch.bool, device=device)
        region = torch.maximum(region, (inside & keep[:, None, None]).to(region))
    if 'points' in prompt:
        labels = prompt.point_labels if 'point_labels' in prompt else torch.ones(prompt.points.shape[:2])
        cells_y = (prompt.points[..., 1] * h / height).long().clamp(0, h - 1)
        cells_x = (prompt.points[..., 0] * w / width).long().clamp(0, w - 1)
        for k, j in (labels == 1).nonzero().tolist():
            region[k, cells_y[k, j], cells_x[k, j]] = 1.0
    return region


def _bool_masks(masks, device='cpu') -> Tensor:
    return masks.to_tensor(torch.bool, device) if isinstance(masks, BitmapMasks) else masks.bool().to(device)


def _target_masks(sample, count: int, device) -> Tensor:
    """(count, H', W') float targets: the sample's ``gt_instances.masks`` (padded by the preprocessor)."""
    masks = _bool_masks(sample.gt_instances.masks, device)
    if len(masks) != count:
        raise ValueError(f'{sample.metainfo.get("img_path", "a sample")}: {count} prompt objects but '
                         f'{len(masks)} ground-truth masks; gt_instances.masks needs one mask per prompt object, '
                         'in prompt order')
    return masks.float()


def ids_from_logits(logits: Tensor) -> Tensor:
    """(K, H, W) logits → (H, W) uint8 ids: k + 1 where object k has the largest positive logit, else 0."""
    if logits.size(0) == 0:
        return torch.zeros(logits.shape[-2:], dtype=torch.uint8, device=logits.device)
    best, index = logits.max(0)
    return torch.where(best > 0, index + 1, 0).to(torch.uint8)


def ids_from_masks(masks: Tensor, frame, rescale: bool) -> Tensor:
    """(K, H', W') padded bool ground truth → (H, W) uint8 ids at ``ori_shape`` / ``img_shape``."""
    height, width = frame.metainfo['img_shape'][:2]
    ids = torch.zeros(masks.shape[-2:], dtype=torch.uint8)
    for k, mask in enumerate(masks.cpu()):
        ids[mask] = k + 1
    ids = ids[:height, :width]
    if rescale and tuple(frame.metainfo['ori_shape'][:2]) != (height, width):
        ids = F.interpolate(ids[None, None].float(), size=frame.metainfo['ori_shape'][:2], mode='nearest')[0, 0]
    return ids.to(torch.uint8)


def _clip_name(sample: TrackDataSample) -> str:
    name = sample.metainfo.get('video_name')
    if name is None and len(sample):
        name = sample[0].metainfo.get('video_name') or str(sample[0].metainfo.get('img_path', 'clip'))
    return str(name)

