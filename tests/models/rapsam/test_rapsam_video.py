"""RapSAM on video: YouTube-VIS and pseudo-video COCO training steps, clip-by-clip prediction, results files."""
import copy
import json
import os
import random
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.structures.mask import mask2bbox
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import seg.evaluation.metrics.youtube_vis_metric as youtube_vis_metric
from seg.toy_data import COCO_STUFF_CLASSES, COCO_THING_CLASSES, VIDEO_CLASSES, make_coco_panoptic, make_ytvis
from seg.datasets.transforms import CopyImageToFrames
from seg.datasets.youtube_vis_dataset import YouTubeVISDataset
from seg.evaluation.metrics.youtube_vis_metric import YouTubeVISMetric
from seg.models.rapsam.rapsam import RapSAM
from seg.models.rapsam.rapsam_video import VideoQueryTracks, clip_ranges, match_queries
from seg.registry import DATASETS, MODELS

REPO = Path(__file__).resolve().parents[3]
DATASET_CONFIGS = REPO / 'configs' / '_base_' / 'datasets'
NUM_FRAMES = 6
MAX_TRACKS = 10


@pytest.fixture(autouse=True)
def one_thread():
    """Two OpenMP threads on two shared cores run these small convolutions ~20x slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    init_default_scope('seg')
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('toy')
    make_ytvis(root / 'ytvis', num_train=2, num_val=1, num_frames=NUM_FRAMES)
    make_coco_panoptic(root / 'coco_panoptic', num_train=2, num_val=1)
    return root


def rapsam_config(num_things: int, num_stuff: int, **kwargs) -> dict:
    """A tiny RapSAMVideo: ResNet-18 from scratch, 64-channel decoder, 10 queries, random vocabulary."""
    num_classes = num_things + num_stuff
    return dict(
        type='RapSAMVideo',
        data_preprocessor=dict(type='VideoSegDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32, pad_mask=True,
                               mask_pad_value=0, pad_seg=True, seg_pad_value=255),
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                      norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch',
                      init_cfg=None),
        neck=dict(type='YOSONeck', agg_dim=32, hidden_dim=64, backbone_shape=[64, 128, 256, 512]),
        panoptic_head=dict(
            type='RapSAMVideoHead', num_things_classes=num_things, num_stuff_classes=num_stuff, num_queries=10,
            num_stages=3, feat_channels=64, class_embed_path=None, class_embed_dim=32,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0, reduction='mean',
                          class_weight=[1.0] * num_classes + [0.1]),
            loss_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0),
            loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True,
                           eps=1.0, loss_weight=5.0)),
        panoptic_fusion_head=dict(type='QueryFusionHead', num_things_classes=num_things,
                                  num_stuff_classes=num_stuff, loss_panoptic=None, init_cfg=None),
        train_cfg=dict(
            num_points=256, oversample_ratio=3.0, importance_sample_ratio=0.75,
            assigner=dict(type='HungarianAssigner', match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)]),
            sampler=dict(type='MaskPseudoSampler')),
        test_cfg=dict(panoptic_on=False, semantic_on=False, instance_on=True, max_per_image=MAX_TRACKS,
                      iou_thr=0.8, filter_low_score=True),
        **kwargs)


def build_model(num_things: int, num_stuff: int, **kwargs):
    torch.manual_seed(0)
    return MODELS.build(rapsam_config(num_things, num_stuff, **kwargs))


def toy_dataset(config_name: str, split: str, data_root: Path):
    """The dataset of a toy dataset config, reading ``data_root``."""
    cfg = Config.fromfile(str(DATASET_CONFIGS / config_name))
    dataset_cfg = copy.deepcopy(cfg[f'{split}_dataloader']['dataset'])
    dataset_cfg['data_root'] = str(data_root)
    return DATASETS.build(dataset_cfg)


def seeded_batch(dataset, seed: int = 0) -> dict:
    """Samples 0 and 1 with fixed random augmentation, collated.

    The seed gives both clips one size: VideoSegDataPreprocessor does not pad the
    ground truth of clips yet (see test_clip_preprocessor_pads_frames).
    """
    random.seed(seed)
    np.random.seed(seed)
    batch = pseudo_collate([dataset[0], dataset[1]])
    assert batch['inputs'][0].shape == batch['inputs'][1].shape
    return batch


def ytvis_test_batch(toy_root: Path) -> dict:
    return pseudo_collate([toy_dataset('toy_youtube_vis.py', 'test', toy_root / 'ytvis')[0]])


def check_training_step(model, batch: dict) -> dict:
    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model.loss(**data)
    assert {'loss_cls', 'loss_mask', 'loss_dice', 'd0.loss_cls'} <= set(losses)
    for name, value in losses.items():
        assert torch.isfinite(value), name
    sum(losses.values()).backward()
    grad = model.panoptic_head.kernels.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    return losses


# ---------------------------------------------------------------------------------------- data
def test_youtube_vis_dataset_reads_official_and_converted_json(toy_root, tmp_path):
    """The release json and mmdet's CocoVID conversion of it give the same data list."""
    official_file = toy_root / 'ytvis' / 'annotations' / 'youtube_vis_2019_train.json'
    official = json.loads(official_file.read_text())
    converted = dict(categories=official['categories'], videos=[], images=[], annotations=[])
    objects = defaultdict(list)
    for ann in official['annotations']:
        objects[ann['video_id']].append(ann)
    for video in official['videos']:
        converted['videos'].append(dict(id=video['id'], width=video['width'], height=video['height']))
        for frame_id, file_name in enumerate(video['file_names']):
            image_id = len(converted['images']) + 1
            converted['images'].append(dict(id=image_id, file_name=file_name, frame_id=frame_id,
                                            video_id=video['id'], width=video['width'], height=video['height']))
            for ann in objects[video['id']]:
                if ann['bboxes'][frame_id] is not None:
                    converted['annotations'].append(dict(
                        id=len(converted['annotations']) + 1, video_id=video['id'], image_id=image_id,
                        category_id=ann['category_id'], instance_id=ann['id'], bbox=ann['bboxes'][frame_id],
                        segmentation=ann['segmentations'][frame_id], area=ann['areas'][frame_id],
                        iscrowd=ann['iscrowd']))
    converted_file = tmp_path / 'cocovid.json'
    converted_file.write_text(json.dumps(converted))

    kwargs = dict(dataset_version='2019', data_prefix=dict(img_path='train/JPEGImages'),
                  data_root=str(toy_root / 'ytvis'), metainfo=dict(classes=VIDEO_CLASSES), pipeline=[])
    from_official = YouTubeVISDataset(ann_file=str(official_file), **kwargs)
    from_converted = YouTubeVISDataset(ann_file=str(converted_file), **kwargs)
    assert from_official.dataset_name == 'YouTubeVISDataset_2019'
    assert len(from_official) == 2
    num_instances = 0
    for index in range(len(from_official)):
        video, reference = from_official.get_data_info(index), from_converted.get_data_info(index)
        assert video['video_length'] == reference['video_length'] == NUM_FRAMES
        for frame, frame_ref in zip(video['images'], reference['images']):
            for key in ('img_id', 'img_path', 'frame_id', 'video_id', 'height', 'width', 'instances'):
                assert frame[key] == frame_ref[key], key
            num_instances += len(frame['instances'])
    assert num_instances > 0


def test_copy_image_to_frames_gives_independent_frames_with_shared_ids():
    boxes = np.array([[0, 0, 4, 4], [2, 2, 8, 8]], dtype=np.float32)
    results = dict(img=np.zeros((8, 8, 3), np.uint8), img_id=7, gt_bboxes=boxes,
                   gt_bboxes_labels=np.array([2, 0]))
    frames = CopyImageToFrames(num_frames=3)(results)
    assert frames['img_id'] == [7, 7, 7] and frames['frame_id'] == [0, 1, 2]
    assert [ids.tolist() for ids in frames['gt_instances_ids']] == [[1, 2]] * 3
    frames['gt_bboxes'][0][0, 0] = 99
    frames['img'][0][0, 0] = 255
    assert frames['gt_bboxes'][1][0, 0] == 0 and frames['img'][1].max() == 0
    with pytest.raises(ValueError):
        CopyImageToFrames(num_frames=1)


# ------------------------------------------------------------------------------------ training
def test_training_step_on_youtube_vis_clips(toy_root):
    batch = seeded_batch(toy_dataset('toy_youtube_vis.py', 'train', toy_root / 'ytvis'))
    assert batch['inputs'][0].shape[:2] == (2, 3)
    for sample in batch['data_samples']:
        frame_ids = [set(frame.gt_instances.instances_ids.tolist()) for frame in sample]
        assert frame_ids[0] & frame_ids[1], 'a 2-frame clip of the toy videos shares objects'
        assert all((frame.gt_sem_seg.sem_seg == 255).all() for frame in sample)
    check_training_step(build_model(len(VIDEO_CLASSES), 0), batch)


def test_training_step_on_pseudo_video_coco(toy_root):
    batch = seeded_batch(toy_dataset('toy_coco_panoptic_video.py', 'train', toy_root / 'coco_panoptic'))
    num_things = len(COCO_THING_CLASSES)
    for sample in batch['data_samples']:
        assert len(sample) == 2
        labels_by_id = {}
        for frame in sample:
            for obj, label in zip(frame.gt_instances.instances_ids.tolist(), frame.gt_instances.labels.tolist()):
                assert labels_by_id.setdefault(obj, label) == label
        assert labels_by_id, 'the toy images have things'
        assert any((frame.gt_sem_seg.sem_seg >= num_things).logical_and(frame.gt_sem_seg.sem_seg < 255).any()
                   for frame in sample), 'stuff comes with the semantic map'
    check_training_step(build_model(num_things, len(COCO_STUFF_CLASSES)), batch)


# ---------------------------------------------------------------------------------- inference
def test_clip_ranges_follow_the_official_split():
    sizes = [end - start for start, end in clip_ranges(36, 5)]
    assert sizes == [5, 5, 5, 5, 4, 4, 4, 4]
    assert clip_ranges(7, 5) == [(0, 5), (5, 7)]
    assert clip_ranges(3, 5) == [(0, 3)]
    assert clip_ranges(10, 4, overlap=1) == [(0, 4), (3, 7), (6, 10)]
    with pytest.raises(ValueError):
        clip_ranges(10, 4, overlap=4)


def test_match_queries_reidentifies_permuted_queries():
    generator = torch.Generator().manual_seed(0)
    reference = torch.randn(20, 16, generator=generator)
    shuffle = torch.randperm(20, generator=generator)
    current = 3.0 * reference[shuffle] + 0.05 * torch.randn(20, 16, generator=generator)
    perm = match_queries(reference, current)
    assert torch.equal(perm, torch.argsort(shuffle))
    assert torch.allclose(current[perm] / 3.0, reference, atol=0.1)

    tracks = VideoQueryTracks()
    cls_logits = torch.randn(20, 5, generator=generator)
    tracks.add_clip(cls_logits, reference)
    second = tracks.add_clip(cls_logits[shuffle] + 1.0, current)
    assert torch.equal(second, perm)
    assert torch.allclose(tracks.class_logits(), cls_logits + 0.5)


def predict(model, batch: dict) -> list:
    model.eval()
    with torch.no_grad():
        return model.test_step(copy.deepcopy(batch))


def test_predict_video_gives_consistent_tracks(toy_root):
    batch = ytvis_test_batch(toy_root)
    model = build_model(len(VIDEO_CLASSES), 0, clip_size_small=2)
    video = predict(model, batch)[0]
    assert len(video) == NUM_FRAMES
    ids = video[0].pred_track_instances.instances_id.tolist()
    assert len(ids) == MAX_TRACKS == len(set(ids))
    first = video[0].pred_track_instances
    for frame in video:
        instances = frame.pred_track_instances
        assert instances.instances_id.tolist() == ids
        assert torch.equal(instances.labels, first.labels) and torch.equal(instances.queries, first.queries)
        assert instances.masks.dtype == torch.bool
        assert instances.masks.shape == (MAX_TRACKS, *frame.metainfo['ori_shape'][:2])
        assert ((instances.scores >= 0) & (instances.scores <= 1)).all()
        assert torch.equal(instances.bboxes, mask2bbox(instances.masks))
    num_classes = len(VIDEO_CLASSES)
    assert torch.equal(first.instances_id, first.queries * num_classes + first.labels + 1)
    with pytest.raises(ValueError, match='panoptic_on=False'):
        model.test_cfg['panoptic_on'] = True
        predict(model, batch)


def test_single_clip_matches_rapsam_predict(toy_root):
    """One clip for the whole video: the same masks and scores as RapSAM.predict's per-frame fusion."""
    batch = ytvis_test_batch(toy_root)
    model = build_model(len(VIDEO_CLASSES), 0, clip_size_small=NUM_FRAMES).eval()
    video = predict(model, batch)[0]
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        reference = RapSAM.predict(model, data['inputs'], data['data_samples'])[0]
    num_classes = len(VIDEO_CLASSES)
    for frame, frame_ref in zip(video, reference):
        ours, theirs = frame.pred_track_instances, frame_ref.pred_track_instances
        their_index = {(q, l): i for i, (q, l) in enumerate(zip(theirs.queries.tolist(), theirs.labels.tolist()))}
        assert len(ours) == len(theirs) == MAX_TRACKS
        for i, (query, label) in enumerate(zip(ours.queries.tolist(), ours.labels.tolist())):
            j = their_index[(query, label)]
            assert torch.equal(ours.masks[i], theirs.masks[j].cpu())
            assert ours.scores[i].item() == pytest.approx(theirs.scores[j].item(), rel=1e-5, abs=1e-6)
            assert ours.instances_id[i] == query * num_classes + label + 1


def test_predict_undoes_a_query_permutation_between_clips(toy_root):
    """Shuffling the head's queries in the second clip changes nothing: matching re-identifies them."""
    batch = ytvis_test_batch(toy_root)
    model = build_model(len(VIDEO_CLASSES), 0, clip_size_small=3)
    reference = predict(model, batch)[0]
    head_forward = model.panoptic_head.forward
    shuffle = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    calls = []

    def shuffled_forward(x, data_samples):
        all_cls, all_masks, all_ious, queries = head_forward(x, data_samples)
        calls.append(len(calls))
        if len(calls) == 2:
            all_cls = [c[:, shuffle] for c in all_cls]
            all_masks = [m[:, shuffle] for m in all_masks]
            all_ious = [i[:, shuffle] for i in all_ious]
            queries = queries[:, shuffle]
        return all_cls, all_masks, all_ious, queries

    model.panoptic_head.forward = shuffled_forward
    video = predict(model, batch)[0]
    assert len(calls) == 2
    for frame, frame_ref in zip(video, reference):
        ours, theirs = frame.pred_track_instances, frame_ref.pred_track_instances
        for key in ('instances_id', 'labels', 'masks'):
            assert torch.equal(ours[key], theirs[key]), key
        assert torch.allclose(ours.scores, theirs.scores)


def test_clip_preprocessor_pads_frames(toy_root):
    dataset = toy_dataset('toy_youtube_vis.py', 'train', toy_root / 'ytvis')
    model = build_model(len(VIDEO_CLASSES), 0)
    model.data_preprocessor.pad_size_divisor = 64
    data = model.data_preprocessor(pseudo_collate([dataset[0]]), True)
    for frame in data['data_samples'][0]:
        assert frame.metainfo['batch_input_shape'] == tuple(data['inputs'].shape[-2:])
        assert frame.gt_instances.masks.masks.shape[-2:] == tuple(data['inputs'].shape[-2:])


# ------------------------------------------------------------------------------------- metric
def make_metric(dataset, **kwargs) -> YouTubeVISMetric:
    metric = YouTubeVISMetric(**kwargs)
    metric.dataset_meta = dataset.metainfo
    return metric


def test_results_json_and_zip_are_written_atomically(toy_root, tmp_path, monkeypatch):
    batch = ytvis_test_batch(toy_root)
    dataset = toy_dataset('toy_youtube_vis.py', 'test', toy_root / 'ytvis')
    videos = predict(build_model(len(VIDEO_CLASSES), 0, clip_size_small=2), batch)
    out_dir = tmp_path / 'results'
    out_dir.mkdir()
    (out_dir / 'rapsam.json').write_text('stale')
    prefix = str(out_dir / 'rapsam')

    metric = make_metric(dataset, format_only=True, outfile_prefix=prefix)
    metric.process({}, [video.to_dict() for video in videos])
    assert metric.evaluate(1) == {}
    assert sorted(os.listdir(out_dir)) == ['rapsam.json', 'rapsam.submission_file.zip']
    results = json.loads((out_dir / 'rapsam.json').read_text())
    with zipfile.ZipFile(out_dir / 'rapsam.submission_file.zip') as archive:
        assert archive.namelist() == ['results.json']
        assert json.loads(archive.read('results.json')) == results
    assert len(results) == MAX_TRACKS
    for track in results:
        assert set(track) == {'video_id', 'score', 'category_id', 'segmentations'}
        assert track['video_id'] == dataset.get_data_info(0)['video_id']
        assert 1 <= track['category_id'] <= len(VIDEO_CLASSES)
        assert 0 <= track['score'] <= 1
        assert len(track['segmentations']) == NUM_FRAMES
        for rle in track['segmentations']:
            assert rle['size'] == [96, 160] and isinstance(rle['counts'], str)

    def failing_dump(obj, path, **kwargs):
        Path(path).write_text('[{"video_id": 1')
        raise OSError('disk full')

    monkeypatch.setattr(youtube_vis_metric.mmengine, 'dump', failing_dump)
    metric = make_metric(dataset, format_only=True, outfile_prefix=prefix)
    metric.process({}, [video.to_dict() for video in videos])
    with pytest.raises(OSError, match='disk full'):
        metric.evaluate(1)
    assert json.loads((out_dir / 'rapsam.json').read_text()) == results
    assert sorted(os.listdir(out_dir)) == ['rapsam.json', 'rapsam.submission_file.zip']


def test_mask_ap_is_one_for_ground_truth_tracks(toy_root):
    batch = ytvis_test_batch(toy_root)
    dataset = toy_dataset('toy_youtube_vis.py', 'test', toy_root / 'ytvis')
    for frame in batch['data_samples'][0]:
        gt = frame.gt_instances
        masks = gt.masks.to_tensor(torch.bool, 'cpu')
        frame.pred_track_instances = InstanceData(masks=masks, bboxes=mask2bbox(masks), labels=gt.labels,
                                                  scores=torch.ones(len(masks)), instances_id=gt.instances_ids)
    metric = make_metric(dataset)
    metric.process({}, [sample.to_dict() for sample in batch['data_samples']])
    metrics = metric.evaluate(1)
    assert metrics['youtube_vis/segm_mAP'] == 1.0
    assert metrics['youtube_vis/segm_mAP_50'] == 1.0


def test_eval_config_runs_on_a_toy_video(toy_root, tmp_path):
    """configs/rapsam/eval_rapsam_yt19.py through a Runner, over a stand-in for the model config."""
    from mmengine.runner import Runner

    model = rapsam_config(len(VIDEO_CLASSES), 0)
    model.update(type='RapSAM', test_cfg=dict(model['test_cfg'], panoptic_on=True))
    stand_in = (f"_base_ = [{str(REPO / 'configs' / '_base_' / 'default_runtime.py')!r}]\n"
                f'model = {model!r}\n'
                "test_dataloader = dict(batch_size=2, dataset=dict(type='CocoPanopticDataset', filter_cfg={}))\n"
                "test_evaluator = dict(type='CocoPanopticMetric', ann_file='x.json')\n"
                "test_cfg = dict(type='TestLoop')\n")
    (tmp_path / 'rapsam_r50_12e_adaptor.py').write_text(stand_in)
    config = tmp_path / 'eval_rapsam_yt19.py'
    config.write_text((REPO / 'configs' / 'rapsam' / 'eval_rapsam_yt19.py').read_text())
    cfg = Config.fromfile(str(config))
    assert cfg.model.type == 'RapSAMVideo' and cfg.model.panoptic_head.num_things_classes == 40
    assert '_delete_' not in cfg.test_dataloader and 'filter_cfg' not in cfg.test_dataloader.dataset

    cfg.model.panoptic_head.update(num_things_classes=len(VIDEO_CLASSES), class_embed_path=None)
    cfg.model.panoptic_fusion_head.num_things_classes = len(VIDEO_CLASSES)
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.test_dataloader.dataset.update(data_root=str(toy_root / 'ytvis'), metainfo=dict(classes=VIDEO_CLASSES))
    resize = cfg.test_dataloader.dataset.pipeline[0].transforms[1]
    assert resize.type == 'Resize'
    resize.scale = (160, 96)
    cfg.test_evaluator.outfile_prefix = str(tmp_path / 'out' / 'results')
    cfg.work_dir = str(tmp_path / 'work_dir')
    Runner.from_cfg(cfg).test()
    results = json.loads((tmp_path / 'out' / 'results.json').read_text())
    assert len(results) == MAX_TRACKS and len(results[0]['segmentations']) == NUM_FRAMES
    with zipfile.ZipFile(tmp_path / 'out' / 'results.submission_file.zip') as archive:
        assert archive.namelist() == ['results.json'] and json.loads(archive.read('results.json')) == results
