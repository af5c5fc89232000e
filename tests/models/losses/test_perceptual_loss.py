"""PerceptualLoss: VGG19 features from a local file, perceptual and style terms as BasicSR / ProPainter."""
import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg19

from seg.models.losses import PerceptualLoss
from seg.models.losses.perceptual_loss import IMAGENET_MEAN, IMAGENET_STD, MissingVGGWeightsError

LAYERS = dict(conv1_1=0.5, conv2_1=2.0)


@pytest.fixture(scope='module')
def vgg_state():
    torch.manual_seed(0)
    # Up to conv2_1 (features.5): all these layers need.
    return {k: v for k, v in vgg19(weights=None).state_dict().items() if k.startswith('features.')
            and int(k.split('.')[1]) <= 5}


def reference_features(state, frames):
    network = vgg19(weights=None).features[:6]
    network.load_state_dict({k[len('features.'):]: v for k, v in state.items()})
    x = ((frames + 1) / 2 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    out = {}
    for index, layer in enumerate(network):
        x = layer(x)
        if index == 0:
            out['conv1_1'] = x
        if index == 5:
            out['conv2_1'] = x
    return out


def gram(x):
    n, c, h, w = x.shape
    flat = x.reshape(n, c, -1)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def test_terms_match_the_formulas_and_vanish_for_identical_frames(tmp_path, vgg_state):
    path = tmp_path / 'vgg.pth'
    torch.save(vgg_state, path)
    loss = PerceptualLoss(str(path), LAYERS, perceptual_weight=0.3, style_weight=7.0)
    pred, target = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    perceptual, style = loss(pred, target)
    a, b = reference_features(vgg_state, pred), reference_features(vgg_state, target)
    expected_perceptual = 0.3 * sum(F.l1_loss(a[k], b[k]) * w for k, w in LAYERS.items())
    expected_style = 7.0 * sum(F.l1_loss(gram(a[k]), gram(b[k])) * w for k, w in LAYERS.items())
    assert perceptual.item() == pytest.approx(expected_perceptual.item(), rel=1e-5)
    assert style.item() == pytest.approx(expected_style.item(), rel=1e-5)
    same = loss(pred, pred)
    assert same[0].item() == 0 and same[1].item() == 0
    assert PerceptualLoss(str(path), LAYERS, style_weight=0.0)(pred, target)[1] is None
    assert not list(loss.parameters()) and not loss.state_dict()


def test_missing_or_incomplete_weights_say_where_to_get_them(tmp_path, vgg_state):
    with pytest.raises(MissingVGGWeightsError, match=r'vgg19-dcbb9e9d\.pth'):
        PerceptualLoss(str(tmp_path / 'absent.pth'), LAYERS)
    path = tmp_path / 'short.pth'
    torch.save(vgg_state, path)
    with pytest.raises(MissingVGGWeightsError, match='features.7.weight'):
        PerceptualLoss(str(path), dict(conv2_2=1.0))
