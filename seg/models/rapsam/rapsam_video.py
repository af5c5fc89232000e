"""RapSAM on whole videos: MinVIS-style inference clip by clip, with the clips' queries linked by matching."""
from typing import List, Optional, Tuple

import numpy as np
import pycocotools.mask as mask_util
import torch
import torch.nn.functional as F
from mmdet.structures import SampleList, TrackDataSample
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from seg.models.rapsam.rapsam import RapSAM, crop_and_rescale
from seg.models.rapsam.query_fusion_head import binary_masks_and_scores, top_thing_queries
from seg.registry import MODELS


def clip_ranges(num_frames: int, clip_size: int, overlap: int = 0) -> List[Tuple[int, int]]:
    """``[start, end)`` frame ranges of the clips a video is cut into (RAP-SAM's ``video_split``).

    Consecutive clips of ``clip_size`` frames, each starting ``overlap`` frames
    before the previous one ends. When the frames do not fill the last clip,
    the surplus comes off the last clips one frame each (4 + 4 rather than
    5 + 3), or all off the last clip when the surplus outnumbers the clips.

    Example: 36 frames, ``clip_size`` 5 → sizes 5, 5, 5, 5, 4, 4, 4, 4.
    """
    if not 0 <= overlap < clip_size:
        raise ValueError(f'need 0 <= overlap < clip_size, got overlap={overlap}, clip_size={clip_size}')
    if num_frames <= clip_size:
        return [(0, num_frames)]
    stride = clip_size - overlap
    span = num_frames - overlap
    num_clips = -(-span // stride)
    ends = [(i + 1) * stride for i in range(num_clips)]
    surplus = ends[-1] - span
    if surplus < num_clips:
        for i in range(surplus):
            ends[num_clips - 1 - i] -= surplus - i
    else:
        ends[-1] -= surplus
    ends = [end + overlap for end in ends]
    starts = [0] + [end - overlap for end in ends[:-1]]
    return list(zip(starts, ends))


def match_queries(reference: Tensor, current: Tensor) -> Tensor:
    """The permutation of ``current`` queries that best lines them up with ``reference``.

    Hungarian matching on 1 − cosine similarity of the query embeddings.

    Args:
        reference: (N, D) embeddings of the previous clip (already aligned).
        current: (N, D) embeddings of this clip.

    Returns:
        (N,) long tensor ``perm`` on ``current``'s device: ``current[perm[n]]``
        is the query that continues ``reference[n]``.
    """
    cost = 1 - F.normalize(reference.float(), dim=-1) @ F.normalize(current.float(), dim=-1).T
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    perm = np.empty(len(rows), dtype=np.int64)
    perm[rows] = cols
    return torch.from_numpy(perm).to(current.device)


class VideoQueryTracks:
    """Bookkeeping of one video's clip-by-clip inference; holds no network.

    Per clip it aligns the queries to the previous clip's (:func:`match_queries`)
    and sums the aligned class logits; per frame it keeps each query's binary
    mask (COCO RLE, at output resolution) and mask score. Across the video it
    keeps only one (N, D) reference, one (N, C+1) sum and, per frame, N RLEs
    and N scores.
    """

    def __init__(self):
        self.reference: Optional[Tensor] = None
        self.cls_sum: Optional[Tensor] = None
        self.num_clips = 0
        self.frame_rles: List[list] = []
        self.frame_mask_scores: List[Tensor] = []

    def add_clip(self, cls_logits: Tensor, queries: Tensor) -> Tensor:
        """Align a clip's (N, C+1) class logits and (N, D) queries; returns the permutation to apply."""
        if self.reference is None:
            perm = torch.arange(len(queries), device=queries.device)
        else:
            perm = match_queries(self.reference, queries)
        self.reference = queries[perm]
        aligned = cls_logits[perm].float()
        self.cls_sum = aligned if self.cls_sum is None else self.cls_sum + aligned
        self.num_clips += 1
        return perm

    def add_frame(self, rles: list, mask_scores: Tensor) -> None:
        """Keep one frame's N aligned query masks (RLE dicts) and (N,) mask scores."""
        self.frame_rles.append(rles)
        self.frame_mask_scores.append(mask_scores.cpu())

    def class_logits(self) -> Tensor:
        """(N, C+1) video class logits: the mean over clips."""
        return self.cls_sum / self.num_clips


@MODELS.register_module()
class RapSAMVideo(RapSAM):
    """RapSAM whose ``predict`` on a whole video runs clip by clip and links the clips (MinVIS).

    A video of T frames is cut into clips of ``clip_size`` frames
    (``clip_size_small`` when T ≤ ``small_clip_thr``) by :func:`clip_ranges`.
    Each clip goes through backbone, neck and head on its own; its final
    queries are matched to the previous clip's and permuted, so query n is one
    object for the whole video. The video's class logits are the mean of the
    clips'; its top ``test_cfg.max_per_image`` (query, thing class) pairs are
    the tracks. Each frame gets ``pred_track_instances`` (on the CPU) with, per
    track, its query's mask at ``ori_shape`` (``img_shape`` without
    ``rescale``), ``scores`` = class probability × the frame's mask score
    (mean sigmoid inside the mask, 0 for an empty mask), ``labels``,
    ``bboxes``, ``queries`` and ``instances_id`` = query · C + label + 1 (one
    id per pair, the same in every frame). This is what the official
    ``Mask2formerVideoMinVIS`` + ``MaskFormerFusionHead`` give, per frame.

    Memory follows one clip: network activations of ``clip_size`` frames,
    then, one frame at a time, the N query masks at output size; across the
    video only RLEs and scores are kept (:class:`VideoQueryTracks`), and at
    the end the results (K boolean masks per frame, on the CPU). The input
    tensor itself holds the whole video, as the data preprocessor gives it.

    Images and prompted images go to :meth:`RapSAM.predict`; ``loss`` is
    RapSAM's, so either class trains.

    Args:
        clip_size: frames per clip for videos longer than ``small_clip_thr``.
        clip_size_small: frames per clip for videos of at most ``small_clip_thr`` frames.
        small_clip_thr: length up to which ``clip_size_small`` is used.
        overlap: frames a clip shares with the previous one (their results
            come from the previous clip; the official evaluation uses 0).
        *args, **kwargs: :class:`RapSAM` arguments; ``test_cfg`` needs
            ``instance_on=True`` and ``panoptic_on=False`` for videos.
    """

    def __init__(self, *args, clip_size: int = 6, clip_size_small: int = 3, small_clip_thr: int = 12,
                 overlap: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        for name, size in (('clip_size', clip_size), ('clip_size_small', clip_size_small)):
            if not 0 <= overlap < size:
                raise ValueError(f'need 0 <= overlap < {name}, got overlap={overlap}, {name}={size}')
        self.clip_size = clip_size
        self.clip_size_small = clip_size_small
        self.small_clip_thr = small_clip_thr
        self.overlap = overlap

    def predict(self, inputs: Tensor, data_samples: SampleList, rescale: bool = True) -> SampleList:
        """Per-frame ``pred_track_instances`` for whole videos ((B, T, 3, H, W) with TrackDataSamples).

        Other inputs go to :meth:`RapSAM.predict`.
        """
        if not isinstance(data_samples[0], TrackDataSample):
            return super().predict(inputs, data_samples, rescale)
        test_cfg = self.test_cfg or {}
        if test_cfg.get('panoptic_on', True) or not test_cfg.get('instance_on', False):
            raise ValueError('RapSAMVideo predicts instance tracks only: set test_cfg panoptic_on=False, '
                             'instance_on=True')
        num_frames = inputs.shape[1]
        clip_size = self.clip_size if num_frames > self.small_clip_thr else self.clip_size_small
        tracks = [VideoQueryTracks() for _ in data_samples]
        for clip_index, (start, end) in enumerate(clip_ranges(num_frames, clip_size, self.overlap)):
            first_new = 0 if clip_index == 0 else self.overlap
            self._predict_clip(inputs[:, start:end], data_samples, start, first_new, tracks, rescale)
        for sample, video in zip(data_samples, tracks):
            self._add_track_results(sample, video)
        return data_samples

    def _predict_clip(self, clip: Tensor, data_samples: SampleList, start: int, first_new: int,
                      tracks: List[VideoQueryTracks], rescale: bool) -> None:
        """Run frames ``start``.. of every video as one clip; record frames from ``start + first_new`` on."""
        num_frames = clip.shape[1]
        clip_samples = [TrackDataSample(video_data_samples=sample[start:start + num_frames])
                        for sample in data_samples]
        all_cls, all_masks, _, queries = self.panoptic_head(self.extract_feat(clip), clip_samples)
        cls_logits, mask_logits = all_cls[-1], all_masks[-1]
        input_shape = tuple(clip.shape[-2:])
        for b, video in enumerate(tracks):
            perm = video.add_clip(cls_logits[b], queries[b])
            for t in range(first_new, num_frames):
                frame = data_samples[b][start + t]
                video.add_frame(*self._frame_masks(mask_logits[b, perm, t], input_shape, frame, rescale))

    @staticmethod
    def _frame_masks(logits: Tensor, input_shape: Tuple[int, int], frame, rescale: bool) -> Tuple[list, Tensor]:
        """(N, h, w) mask logits of one frame → N RLE masks and (N,) mask scores.

        Resized as the head and fusion head do: to the padded ``input_shape``,
        cropped to ``img_shape``, then to ``ori_shape`` when ``rescale``.
        """
        logits = F.interpolate(logits[None], size=input_shape, mode='bilinear', align_corners=False)[0]
        binary, mask_scores = binary_masks_and_scores(crop_and_rescale(logits, frame.metainfo, rescale))
        rles = mask_util.encode(np.asfortranarray(binary.permute(1, 2, 0).cpu().numpy().astype(np.uint8)))
        return rles, mask_scores

    def _add_track_results(self, sample: TrackDataSample, video: VideoQueryTracks) -> None:
        """Pick the video's top (query, thing class) pairs and give every frame their masks."""
        head = self.panoptic_fusion_head
        top_scores, labels, queries = top_thing_queries(video.class_logits().cpu(),
                                                        (self.test_cfg or {}).get('max_per_image', 100),
                                                        head.num_things_classes)
        for t, (rles, mask_scores) in enumerate(zip(video.frame_rles, video.frame_mask_scores)):
            frame = sample[t]
            if len(queries):
                masks = mask_util.decode([rles[q] for q in queries.tolist()])
                masks = torch.from_numpy(masks).permute(2, 0, 1).bool().contiguous()
            else:
                height, width = rles[0]['size'] if rles else frame.metainfo['ori_shape'][:2]
                masks = torch.zeros((0, height, width), dtype=torch.bool)
            frame.pred_track_instances = InstanceData(
                masks=masks, bboxes=mask2bbox(masks), labels=labels, scores=top_scores * mask_scores[queries],
                queries=queries, instances_id=queries * head.num_classes + labels + 1)
