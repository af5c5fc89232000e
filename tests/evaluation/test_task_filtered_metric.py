"""TaskFilteredMetric: on results mixing tasks it gives the wrapped metric's numbers on that task's results, under
the wrapped metric's prefix, through mmengine's Evaluator and across gloo ranks; DAVISMetric takes FastSAM2's vos
result dicts."""
import pickle
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.evaluator import Evaluator
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from seg.evaluation.metrics import DAVISMetric, InteractivePromptMetric, TaskFilteredMetric
from seg.fileio.palette import read_palette_png

HEIGHT, WIDTH = 12, 16


def vos_result(name: str, seed: int, num_frames: int = 5) -> dict:
    """What FastSAM2's predict returns for a vos sample: two boxes per frame, the prediction shifted a little."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((num_frames, HEIGHT, WIDTH), np.uint8)
    pred = np.zeros_like(gt)
    for t in range(num_frames):
        for object_id, (top, left) in enumerate(((1, 1), (6, 8)), start=1):
            gt[t, top:top + 5, left:left + 6] = object_id
            dy, dx = rng.integers(0, 3, size=2)
            pred[t, top + dy:top + dy + 5, left + dx:left + dx + 6] = object_id
    return dict(task='vos', name=name, pred=pred, gt=gt, frame_names=[f'{t:05d}' for t in range(num_frames)])


def interactive_result(name: str, iou_percents) -> dict:
    """An interactive result dict (as the Evaluator passes a packed sample on): targets in ``gt_instances``."""
    gt = torch.ones((len(iou_percents), 10, 10), dtype=torch.bool)
    pred = torch.zeros((len(iou_percents), 100), dtype=torch.bool)
    for k, percent in enumerate(iou_percents):
        pred[k, :percent] = True
    return dict(task='interactive', img_path=name, gt_instances=dict(masks=gt),
                pred_instances=dict(masks=pred.view(-1, 10, 10)))


def other_result(name: str) -> dict:
    """A result of another task, which neither wrapped metric could read."""
    return dict(task='panoptic', img_path=name, pred_panoptic_seg=dict(sem_seg=torch.zeros(1, 4, 4)))


def mixed_results():
    return [interactive_result('a.jpg', [95, 40]), vos_result('vid_a', 0), other_result('p.jpg'),
            vos_result('vid_b', 1), interactive_result('b.jpg', [70]), dict(task='vos', name='no_gt_here'),
            interactive_result('c.jpg', [10, 100, 85])]


def wrappers():
    return [TaskFilteredMetric(task='vos', metric=dict(type='DAVISMetric')),
            TaskFilteredMetric(task='interactive', metric=dict(type='InteractivePromptMetric',
                                                               gt_field='gt_instances'))]


def scored_alone(results):
    """Each wrapped metric alone on its task's results (the reference)."""
    davis = DAVISMetric()
    davis.process({}, [r for r in results if r['task'] == 'vos' and 'gt' in r])
    prompt = InteractivePromptMetric(gt_field='gt_instances')
    prompt.process({}, [r for r in results if r['task'] == 'interactive'])
    return {**davis.evaluate(2), **prompt.evaluate(3)}


def test_davis_metric_takes_the_vos_result_dicts(tmp_path):
    results = [vos_result('vid_a', 0), vos_result('vid_b', 1)]
    metric = DAVISMetric(out_dir=str(tmp_path))
    metric.process({}, results)
    scores = metric.evaluate(len(results))
    assert {'davis/J&F-Mean', 'davis/J-Mean', 'davis/F-Mean'} <= set(scores)
    assert 0.3 < scores['davis/J-Mean'] < 1
    for result in results:
        for name, ids in zip(result['frame_names'], result['pred']):
            written, _ = read_palette_png(tmp_path / result['name'] / f'{name}.png')
            assert np.array_equal(written, ids)


def test_mixed_results_score_as_the_wrapped_metrics_on_their_own_task():
    results = [r for r in mixed_results() if r.get('name') != 'no_gt_here']
    evaluator = Evaluator(wrappers())
    for start in range(0, len(results), 2):  # batches of two, mixing tasks
        evaluator.process(results[start:start + 2], data_batch={})
    scores = evaluator.evaluate(size=len(results))
    expected = scored_alone(results)
    assert set(scores) == set(expected) and any(k.startswith('davis/') for k in scores)
    assert any(k.startswith('prompt/') for k in scores)
    assert scores == pytest.approx(expected)
    assert all(m.results == [] and m.metric.results == [] for m in evaluator.metrics)


def test_other_tasks_never_reach_the_wrapped_metric():
    vos = wrappers()[0]
    vos.process({}, mixed_results()[:5])
    with pytest.raises(KeyError):  # a vos result DAVISMetric cannot read does reach it
        vos.process({}, mixed_results()[5:6])
    assert [is_task for is_task, _ in vos.results] == [False, True, False, True, False]
    assert vos.metric.results == []


def test_task_of_packed_data_samples_is_read_from_their_metainfo():
    def packed(result):
        sample = DetDataSample(metainfo=dict(task=result['task'], img_path=result['img_path']))
        sample.gt_instances = InstanceData(masks=result['gt_instances']['masks'])
        sample.pred_instances = InstanceData(masks=result['pred_instances']['masks'])
        return sample

    interactive = [interactive_result('a.jpg', [95, 40]), interactive_result('b.jpg', [70])]
    evaluator = Evaluator(wrappers()[1])
    evaluator.process([packed(interactive[0]), vos_result('vid_a', 0), packed(interactive[1])], data_batch={})
    alone = InteractivePromptMetric(gt_field='gt_instances')
    alone.process({}, interactive)
    assert evaluator.evaluate(3) == pytest.approx(alone.evaluate(2))


def test_no_result_of_the_task_reports_nothing():
    metric = wrappers()[0]
    metric.process({}, [interactive_result('a.jpg', [50]), other_result('p.jpg')])
    assert metric.evaluate(2) == {}
    assert metric.results == []


def test_built_from_a_config_with_the_wrapped_prefix_and_meta():
    with DefaultScope.overwrite_default_scope('seg'):
        metric = MMENGINE_METRICS.build(dict(type='TaskFilteredMetric', task='vos',
                                             metric=dict(type='DAVISMetric', prefix='vos_davis')))
        prompt = MMENGINE_METRICS.build(dict(type='TaskFilteredMetric', task='interactive',
                                             metric=dict(type='InteractivePromptMetric')))
    assert isinstance(metric.metric, DAVISMetric) and metric.prefix == 'vos_davis' and prompt.prefix == 'prompt'
    assert repr(metric) == "TaskFilteredMetric(task='vos', metric=DAVISMetric)"
    metric.dataset_meta = dict(classes=('a', ))
    assert metric.metric.dataset_meta == metric.dataset_meta == dict(classes=('a', ))
    with pytest.raises(TypeError, match='BaseMetric'):
        TaskFilteredMetric(task='vos', metric=object())


def test_interactive_metric_reads_the_named_ground_truth_field():
    result = interactive_result('a.jpg', [50, 100])
    with pytest.raises(KeyError, match='gt_instances_collected'):
        InteractivePromptMetric().process({}, [result])  # the default stays RapSAM's field
    metric = InteractivePromptMetric(gt_field='gt_instances')
    metric.process({}, [result])
    assert metric.compute_metrics(metric.results)['mIoU'] == pytest.approx(0.75)


WORKER = textwrap.dedent('''
    import json, pickle, sys
    import torch.distributed as dist
    import seg
    from mmengine.evaluator import Evaluator
    from seg.evaluation.metrics import TaskFilteredMetric
    rank, world_size, port, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    with open(data, 'rb') as f:
        results = pickle.load(f)
    # DistributedSampler(shuffle=False): pad with the first samples to a multiple of the ranks, then stride
    indices = list(range(len(results)))
    indices += indices[:(-len(indices)) % world_size]
    mine = [results[i] for i in indices[rank::world_size]]
    evaluator = Evaluator([TaskFilteredMetric('vos', dict(type='DAVISMetric')),
                           TaskFilteredMetric('interactive', dict(type='InteractivePromptMetric',
                                                                  gt_field='gt_instances'))])
    for start in range(0, len(mine), 2):
        evaluator.process(mine[start:start + 2], data_batch={})
    scores = evaluator.evaluate(len(results))
    if rank == 0:
        with open(f'{data}.json', 'w') as f:
            json.dump(scores, f)
    # as seg.apis.runner.close_process_group: without the barrier gloo sometimes aborts at exit
    dist.barrier()
    dist.destroy_process_group()
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_score_as_one_process(tmp_path):
    """Five results on two ranks: the sampler repeats the first (an interactive one) on rank 1; it counts once."""
    import json
    results = [interactive_result('a.jpg', [100, 100, 100]), vos_result('vid_a', 0), interactive_result('b.jpg', [30]),
               other_result('p.jpg'), vos_result('vid_b', 1)]
    data = tmp_path / 'results.pkl'
    data.write_bytes(pickle.dumps(results))
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, '-c', WORKER, str(rank), '2', port, str(data)]) for rank in range(2)]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    scores = json.loads((tmp_path / 'results.pkl.json').read_text())
    expected = scored_alone(results)
    assert scores == pytest.approx(expected)
    assert scores['prompt/mIoU'] == pytest.approx(0.825)  # (1 + 1 + 1 + 0.3) / 4: the repeated image is dropped
