"""AdversarialLoss and FlowCompletionLoss against the official formulas."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seg.models.flow.spynet import SPyNet
from seg.models.losses import AdversarialLoss, FlowCompletionLoss
from seg.models.losses.flow_completion_loss import SPYNET_URL


@pytest.fixture
def spynet_file(tmp_path: Path) -> str:
    torch.manual_seed(0)
    path = tmp_path / 'spynet.pth'
    torch.save(SPyNet().state_dict(), path)
    return str(path)


def test_hinge_loss_as_official():
    scores = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    loss = AdversarialLoss('hinge')
    assert loss(scores, True, True).item() == pytest.approx(torch.relu(1 - scores).mean().item())
    assert loss(scores, False, True).item() == pytest.approx(torch.relu(1 + scores).mean().item())
    assert loss(scores, True, False).item() == pytest.approx(-scores.mean().item())


def test_nsgan_and_lsgan_compare_with_the_labels():
    probabilities = torch.tensor([0.1, 0.7, 0.9])
    assert AdversarialLoss('nsgan')(probabilities, True, True).item() == pytest.approx(
        F.binary_cross_entropy(probabilities, torch.ones(3)).item())
    assert AdversarialLoss('lsgan')(probabilities, False, False).item() == pytest.approx(
        (probabilities ** 2).mean().item())
    assert AdversarialLoss('nsgan').needs_probabilities and not AdversarialLoss('hinge').needs_probabilities
    with pytest.raises(ValueError, match='gan_type'):
        AdversarialLoss('wgan')


def test_flow_completion_loss_is_l1_to_spynet_flows_of_quarter_size_frames(spynet_file):
    torch.manual_seed(1)
    loss = FlowCompletionLoss(dict(type='SPyNet', pretrained=spynet_file))
    frames = torch.rand(2, 3, 3, 64, 96)
    pred = (torch.randn(2, 2, 2, 16, 24, requires_grad=True), torch.randn(2, 2, 2, 16, 24, requires_grad=True))
    value = loss(pred, frames)
    small = F.interpolate(frames.view(-1, 3, 64, 96), size=(16, 24), mode='bilinear', align_corners=True)
    small = small.view(2, 3, 3, 16, 24)
    earlier, later = small[:, :-1].reshape(-1, 3, 16, 24), small[:, 1:].reshape(-1, 3, 16, 24)
    expected = (F.l1_loss(pred[0].reshape(-1, 2, 16, 24), loss.flow_net(earlier, later)) +
                F.l1_loss(pred[1].reshape(-1, 2, 16, 24), loss.flow_net(later, earlier)))
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    assert pred[0].grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in loss.flow_net.parameters())


def test_frozen_spynet_is_outside_the_state_dict_and_follows_the_module(spynet_file):
    loss = FlowCompletionLoss(dict(type='SPyNet', pretrained=spynet_file))
    assert len(loss.state_dict()) == 0 and len(list(loss.parameters())) == 0
    loss.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in loss.flow_net.parameters())
    assert loss.flow_net.mean.dtype == torch.float64


def test_spynet_weights_are_required_and_a_missing_file_names_the_download(tmp_path):
    missing = str(tmp_path / 'spynet_20210409-c6c1bd09.pth')
    with pytest.raises(FileNotFoundError) as info:
        FlowCompletionLoss(dict(type='SPyNet', pretrained=missing))
    assert SPYNET_URL in str(info.value) and missing in str(info.value)
    with pytest.raises(ValueError, match='pretrained'):
        FlowCompletionLoss(dict(type='SPyNet', pretrained=None))
