"""XMemVOS: losses of a training clip, BatchNorm frozen in train mode, predictions (those of seg.apis.track) and J."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement

from seg.apis import track
from seg.datasets.vos_clip_dataset import VOSClipDataset, normalise_frames
from seg.evaluation.metrics.davis_metric import DAVISMetric
from seg.fileio.palette import read_palette_png
from seg.models.xmem.bootstrapped_ce_loss import BootstrappedCELoss
from seg.models.xmem.xmem_dice_loss import XMemDiceLoss
from seg.models.xmem.xmem_vos import XMemVOS
from seg.toy_data import make_davis, render_video

SMALL = dict(key_dim=16, value_dim=32, hidden_dim=8)


def test_bootstrapped_ce_anneals_to_the_hardest_pixels():
    loss = BootstrappedCELoss(start_warm=10, end_warm=20, top_p=0.25)
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1] = torch.tensor([[4.0, 2.0], [-2.0, -4.0]])
    target = torch.ones(1, 2, 2, dtype=torch.long)
    per_pixel = torch.nn.functional.cross_entropy(logits, target, reduction='none').flatten()
    assert torch.isclose(loss(logits, target, 5), per_pixel.mean())
    assert loss.fraction(15) == pytest.approx(0.625)
    assert torch.isclose(loss(logits, target, 30), per_pixel.max())  # 25 % of 4 pixels


def test_xmem_dice_by_hand():
    prob = torch.zeros(1, 2, 2, 2)
    prob[0, 0, 0, 0] = 1.0
    cls_gt = torch.tensor([[[1, 0], [0, 2]]])
    # object 1: (2*1 + 1) / (1 + 1 + 1) = 1 -> 0; object 2: (0 + 1) / (0 + 1 + 1) -> 0.5
    assert torch.isclose(XMemDiceLoss()(prob, cls_gt), torch.tensor(0.25))


def test_training_step_and_frozen_bn():
    torch.manual_seed(0)
    model = XMemVOS(network=SMALL, num_ref_frames=1).train()
    assert not model.network.key_encoder.bn1.training
    MessageHub.get_current_instance().update_info('iter', 0)
    cls_gt = torch.zeros(2, 3, 1, 32, 48, dtype=torch.long)
    cls_gt[:, :, :, 4:14, 4:14] = 1
    cls_gt[0, :, :, 18:28, 20:40] = 2
    first = torch.stack([(cls_gt[:, 0, 0] == 1), (cls_gt[:, 0, 0] == 2)], 1)[:, None].long()
    selector = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    samples = [BaseDataElement(metainfo=dict(num_objects=n), first_frame_gt=first[b], cls_gt=cls_gt[b],
                               selector=selector[b]) for b, n in enumerate((2, 1))]
    losses = model(torch.randn(2, 3, 3, 32, 48), samples, mode='loss')
    assert set(losses) == {'loss_ce', 'loss_dice'} and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.network.decoder.pred.weight.grad is not None


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index of two bool masks; 1 when both are empty (DAVIS)."""
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def test_train_step_on_a_toy_batch_of_two(tmp_path):
    """Dataset items → pseudo_collate → VOSDataPreprocessor → loss → one optimiser step."""
    root = make_davis(tmp_path / 'davis', num_train=2, num_val=1, num_frames=6, height=48, width=80)
    dataset = VOSClipDataset(str(root), num_frames=3, max_num_obj=2, crop_size=(32, 48))
    torch.manual_seed(0)
    batch = pseudo_collate([dataset[0], dataset[1]])
    model = XMemVOS(network=SMALL, num_ref_frames=1).train()
    MessageHub.get_current_instance().update_info('iter', 0)
    before = model.network.decoder.pred.weight.detach().clone()
    log = model.train_step(batch, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))
    assert set(log) == {'loss', 'loss_ce', 'loss_dice'} and all(torch.isfinite(v) and v > 0 for v in log.values())
    assert not torch.equal(model.network.decoder.pred.weight, before)


def test_predict_gives_the_masks_of_seg_apis_track_and_the_metric_scores_them(tmp_path):
    """XMemVOS.predict and seg.apis.track drive the same XMemSession: the same weights give the same masks."""
    torch.manual_seed(0)
    model = XMemVOS(network=SMALL).eval()
    video = render_video(0, num_frames=4, height=32, width=48, num_objects=2)
    gt = video.masks
    results = model.predict([normalise_frames(video.frames)], [gt], ['seq'], frame_names=[['a', 'b', 'c', 'd']],
                            palette=[None])
    pred = results[0]['pred']
    assert pred.shape == (4, 32, 48) and pred.dtype == np.uint8
    np.testing.assert_array_equal(pred[0], gt[0])
    np.testing.assert_array_equal(pred, np.stack(list(track(video.frames, gt[0], network=model.network))))
    metric = DAVISMetric(out_dir=str(tmp_path / 'out'))
    metric.process({}, results)
    numbers = metric.compute_metrics(metric.results)
    # J-Mean: the IoU of each object on frames 1..T-2 (the first and last frames are not scored), averaged
    assert numbers['J-Mean'] == pytest.approx(np.mean([iou(pred[t] == k, gt[t] == k) for k in (1, 2) for t in (1, 2)]))
    np.testing.assert_array_equal(read_palette_png(tmp_path / 'out' / 'seq' / 'd.png')[0], pred[3])


def test_stage0_weights_load_into_a_multi_object_model():
    """A single-object (stage-0) value stem is zero-padded to 5 channels by load_state_dict (mmengine load_from)."""
    torch.manual_seed(0)
    stage0 = XMemVOS(network=dict(SMALL, single_object=True)).state_dict()
    model = XMemVOS(network=SMALL)
    model.load_state_dict(stage0, strict=True)
    stem = model.network.value_encoder.conv1.weight
    assert stem.shape[1] == 5 and torch.equal(stem[:, :4], stage0['network.value_encoder.conv1.weight'])
    assert not stem[:, 4].any()


def test_pretrained_released_weights_load_before_training(tmp_path):
    from seg.models.xmem import XMem
    torch.manual_seed(1)
    released = XMem(**SMALL, single_object=True).state_dict()  # a stage-0 file: raw keys, 4-channel stem
    torch.save(released, tmp_path / 'XMem-s0.pth')
    model = XMemVOS(network=SMALL, pretrained=str(tmp_path / 'XMem-s0.pth'))
    model.init_weights()
    assert torch.equal(model.network.key_encoder.conv1.weight, released['key_encoder.conv1.weight'])
    assert not model.network.value_encoder.conv1.weight[:, 4].any()
    with pytest.raises(FileNotFoundError, match='XMem checkpoint'):
        XMemVOS(network=SMALL, pretrained=str(tmp_path / 'missing.pth')).init_weights()
