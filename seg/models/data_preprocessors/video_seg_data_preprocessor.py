"""Normalise, pad and batch images or video clips, and make the prompts of SAM-style samples."""
import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import TrackDataSample
from mmengine.structures import InstanceData

from seg.utils.prompts import interior_points, points_to_boxes, random_foreground_points
from seg.registry import MODELS


@MODELS.register_module()
class VideoSegDataPreprocessor(DetDataPreprocessor):
    """mmdet's ``DetDataPreprocessor`` for images, clips and prompted images.

    - Images (``DetDataSample``): unchanged behaviour (BGR→RGB, normalise, then
      pad with ``pad_value`` to a multiple of ``pad_size_divisor``).
    - Clips (``TrackDataSample`` with (T, 3, H, W) inputs): the frames are
      processed as images and re-stacked to (B, T, 3, H', W').
    - Prompts: training samples whose ``data_tag`` is ``'sam'`` get
      ``num_train_prompts`` random foreground clicks (as 6×6 boxes) on their
      ground-truth segments; with ``interactive_test=True``, test samples get
      one click at the most interior pixel of each ground-truth segment. Both
      land in ``gt_instances_collected`` (``point_coords`` (K, 4) xyxy boxes,
      named as in the official code, ``pb_labels`` (K,) = 1, ``masks`` (K, H, W) bool).

    Args:
        num_train_prompts: clicks per ``'sam'`` training image.
        interactive_test: make evaluation clicks at test time.
        **kwargs: ``DetDataPreprocessor`` arguments.
    """

    def __init__(self, num_train_prompts: int = 30, interactive_test: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.num_train_prompts = num_train_prompts
        self.interactive_test = interactive_test

    def forward(self, data: dict, training: bool = False) -> dict:
        """Collate ``data`` (``inputs`` list, ``data_samples`` list) into model inputs."""
        samples = data.get('data_samples')
        if samples and isinstance(samples[0], TrackDataSample):
            return self._forward_clips(data, training)
        data = super().forward(data, training)
        for sample in data['data_samples'] or []:
            if training and sample.metainfo.get('data_tag') == 'sam':
                self._add_random_prompts(sample)
            elif not training and self.interactive_test:
                self._add_interior_prompts(sample)
        return data

    def _forward_clips(self, data: dict, training: bool) -> dict:
        clips = data['inputs']
        lengths = {len(clip) for clip in clips}
        if len(lengths) != 1:
            raise ValueError(f'clips of one batch must have the same number of frames; got {sorted(lengths)}')
        num_frames = lengths.pop()
        frames = [frame for clip in clips for frame in clip]
        frame_samples = [frame for sample in data['data_samples'] for frame in sample]
        out = super().forward(dict(inputs=frames, data_samples=frame_samples), training)
        # The parent returns new (cast, padded, moved) frame samples: put those back in the clips.
        samples = data['data_samples']
        for i, sample in enumerate(samples):
            sample.video_data_samples = out['data_samples'][i * num_frames:(i + 1) * num_frames]
        return dict(inputs=out['inputs'].unflatten(0, (len(clips), num_frames)), data_samples=samples)

    @staticmethod
    def _segment_masks(sample) -> torch.Tensor:
        masks = sample.gt_instances.masks
        device = sample.gt_instances.labels.device
        return masks if isinstance(masks, torch.Tensor) else masks.to_tensor(torch.bool, device)

    def _add_random_prompts(self, sample) -> None:
        masks = self._segment_masks(sample).bool()
        if masks.shape[0] == 0 or not masks.flatten(1).any(1).any():
            raise ValueError(f'prompt training image {sample.metainfo.get("img_path")} has no ground-truth '
                             'segment to click on; filter empty images in the pipeline')
        points, index = random_foreground_points(masks, self.num_train_prompts)
        sample.gt_instances_collected = InstanceData(
            point_coords=points_to_boxes(points), pb_labels=torch.ones_like(index),
            masks=masks[index])

    def _add_interior_prompts(self, sample) -> None:
        """One click per segment, at its most interior pixel.

        Masks at ``img_shape`` (loaded before ``Resize``, padded) are cropped to
        it; masks at ``ori_shape`` (annotations loaded after ``Resize``, so the
        metric compares at the original size) are clicked there and the click is
        scaled to the network input by ``scale_factor``.
        """
        masks = self._segment_masks(sample).bool()
        img_h, img_w = sample.metainfo['img_shape'][:2]
        ori_shape = tuple(sample.metainfo.get('ori_shape', (img_h, img_w))[:2])
        at_original = tuple(masks.shape[-2:]) == ori_shape and ori_shape != (img_h, img_w)
        if not at_original:
            masks = masks[:, :img_h, :img_w]
        masks = masks[masks.flatten(1).any(1)]
        points = interior_points(masks) if len(masks) else masks.new_zeros((0, 2), dtype=torch.long)
        if at_original:
            w_scale, h_scale = sample.metainfo['scale_factor'][:2]
            points = points.float() * points.new_tensor([w_scale, h_scale], dtype=torch.float32)
        boxes = points_to_boxes(points)
        sample.gt_instances_collected = InstanceData(
            point_coords=boxes, pb_labels=torch.ones(len(masks), dtype=torch.long, device=masks.device),
            masks=masks)
