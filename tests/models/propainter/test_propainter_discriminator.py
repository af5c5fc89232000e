"""ProPainter's Discriminator is E2FGVI's TemporalPatchDiscriminator: its state_dict loads and computes the same."""
import torch
import torch.nn.functional as F

from seg.models.inpainters import TemporalPatchDiscriminator

# Official layout (model/propainter.py Discriminator(in_channels=3, use_sigmoid=False), as core/trainer.py builds it
# for the hinge loss): five spectrally normalised Conv3d without bias, then a plain Conv3d with bias.
CHANNELS = ((3, 32), (32, 64), (64, 128), (128, 128), (128, 128))


def propainter_style_state_dict():
    gen = torch.Generator().manual_seed(0)
    state = {}
    for index, (cin, cout) in enumerate(CHANNELS):
        prefix = f'conv.{2 * index}.'
        state[prefix + 'weight_orig'] = torch.randn(cout, cin, 3, 5, 5, generator=gen) * 0.05
        state[prefix + 'weight_u'] = F.normalize(torch.randn(cout, generator=gen), dim=0)
        state[prefix + 'weight_v'] = F.normalize(torch.randn(cin * 75, generator=gen), dim=0)
    state['conv.10.weight'] = torch.randn(128, 128, 3, 5, 5, generator=gen) * 0.05
    state['conv.10.bias'] = torch.randn(128, generator=gen) * 0.05
    return state


def test_propainter_discriminator_state_dict_loads_and_scores_like_its_definition():
    state = propainter_style_state_dict()
    discriminator = TemporalPatchDiscriminator(in_channels=3, use_sigmoid=False).eval()
    discriminator.load_state_dict(state, strict=True)
    clip = torch.randn(1, 4, 3, 64, 96)
    with torch.no_grad():
        scores = discriminator(clip)

    # Eval-mode spectral norm: weight / (u . W v) with the stored u, v.
    x = clip.transpose(1, 2)
    for index in range(len(CHANNELS)):
        prefix = f'conv.{2 * index}.'
        weight = state[prefix + 'weight_orig']
        sigma = state[prefix + 'weight_u'] @ (weight.flatten(1) @ state[prefix + 'weight_v'])
        x = F.leaky_relu(F.conv3d(x, weight / sigma, stride=(1, 2, 2), padding=1 if index == 0 else (1, 2, 2)), 0.2)
    x = F.conv3d(x, state['conv.10.weight'], state['conv.10.bias'], stride=(1, 2, 2), padding=(1, 2, 2))
    assert scores.shape == (1, 4, 128, 1, 2)
    torch.testing.assert_close(scores, x.transpose(1, 2), rtol=1e-4, atol=1e-5)
