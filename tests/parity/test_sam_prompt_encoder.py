import copy

import pytest
import torch

from ext.sam import LayerNorm2d, PositionEmbeddingRandom, PromptEncoder
from seg.parity import compare_outputs
from seg.parity.sam_prompt_encoder import prompt_encoder_config, run_sam_prompt_encoder
from seg.registry import MODELS, PARITY_RUNNERS


SMALL = dict(embed_dim=8, image_embedding_size=(3, 4), input_image_size=(48, 64), mask_in_chans=4)


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return PromptEncoder(**SMALL).eval()


def clicks(batch=2, num=3):
    coords = torch.rand(batch, num, 2) * torch.tensor([64.0, 48.0])
    labels = torch.tensor([[1, 0, -1], [0, 1, 1]])[:batch, :num]
    return coords, labels


def test_matches_official_outputs(parity_fixture):
    fixture = parity_fixture('sam_prompt_encoder')
    ok, checks = compare_outputs(run_sam_prompt_encoder(fixture), fixture)
    assert set(checks) == set(fixture['outputs'])
    assert ok, {key: (check.max_abs_diff, check.detail) for key, check in checks.items() if not check.ok}


def test_runner_is_registered_and_reads_sizes_when_meta_lacks_them(parity_fixture):
    assert PARITY_RUNNERS.get('sam_prompt_encoder') is run_sam_prompt_encoder
    fixture = parity_fixture('sam_prompt_encoder')
    bare = copy.deepcopy(fixture)
    for key in ('embed_dim', 'image_embedding_size', 'input_image_size', 'mask_in_chans'):
        bare['meta'].get('config', {}).pop(key, None)
        bare['meta'].pop(key, None)
    assert prompt_encoder_config(bare) == prompt_encoder_config(fixture)


def test_state_dict_has_the_official_layout(encoder):
    keys = list(encoder.state_dict())
    assert keys[0] == 'pe_layer.positional_encoding_gaussian_matrix'
    assert [k for k in keys if k.startswith('mask_downscaling.')] == [
        f'mask_downscaling.{i}.{p}' for i in (0, 1, 3, 4, 6) for p in ('weight', 'bias')]
    assert len(keys) == 17
    assert encoder.state_dict()['pe_layer.positional_encoding_gaussian_matrix'].shape == (2, 4)


def test_builds_from_config():
    encoder = MODELS.build(dict(type='PromptEncoder', **SMALL))
    assert isinstance(encoder, PromptEncoder)
    assert isinstance(encoder.mask_downscaling[1], LayerNorm2d)


def test_gaussian_matrix_buffer_follows_device_and_dtype(encoder):
    on_meta = copy.deepcopy(encoder).to(torch.device('meta'))
    assert on_meta.pe_layer.positional_encoding_gaussian_matrix.device.type == 'meta'

    coords, labels = clicks()
    want_sparse, want_dense = encoder(points=(coords, labels))
    double = encoder.to(torch.float64)
    assert double.pe_layer.positional_encoding_gaussian_matrix.dtype == torch.float64
    sparse, dense = double(points=(coords.double(), labels))
    assert sparse.dtype == dense.dtype == double.get_dense_pe().dtype == torch.float64
    torch.testing.assert_close(sparse.float(), want_sparse, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dense.float(), want_dense)


def test_points_without_boxes_get_one_padding_point(encoder):
    coords, labels = clicks()
    sparse, dense = encoder(points=(coords, labels))
    assert sparse.shape == (2, 4, 8)
    assert dense.shape == (2, 8, 3, 4)
    not_a_point = encoder.not_a_point_embed.weight[0]
    torch.testing.assert_close(sparse[:, 3], not_a_point.expand(2, 8), rtol=0, atol=0)
    torch.testing.assert_close(sparse[0, 2], not_a_point, rtol=0, atol=0)  # given as padding


def test_points_with_boxes_get_no_padding_point(encoder):
    coords, labels = clicks()
    boxes = torch.tensor([[1.0, 2.0, 30.0, 40.0], [0.0, 0.0, 63.0, 47.0]])
    sparse, _ = encoder(points=(coords, labels), boxes=boxes)
    assert sparse.shape == (2, 3 + 2, 8)
    alone, _ = encoder(boxes=boxes)
    torch.testing.assert_close(sparse[:, 3:], alone, rtol=0, atol=0)


def test_point_tokens_are_position_plus_label_embedding(encoder):
    coords, labels = clicks()
    sparse, _ = encoder(points=(coords, labels))
    position = encoder.pe_layer.forward_with_coords(coords + 0.5, encoder.input_image_size)
    torch.testing.assert_close(sparse[0, 0], position[0, 0] + encoder.point_embeddings[1].weight[0])
    torch.testing.assert_close(sparse[0, 1], position[0, 1] + encoder.point_embeddings[0].weight[0])


def test_dense_pe_encodes_pixel_centres_with_x_first(encoder):
    pe = encoder.get_dense_pe()
    assert pe.shape == (1, 8, 3, 4)
    h, w = encoder.image_embedding_size
    centre = torch.tensor([[[(1 + 0.5) / w, (2 + 0.5) / h]]])  # column 1, row 2
    want = encoder.pe_layer.forward_with_coords(centre * torch.tensor([64.0, 48.0]), (48, 64))
    torch.testing.assert_close(pe[0, :, 2, 1], want[0, 0])


def test_no_prompt_gives_no_mask_embedding_for_one_item(encoder):
    sparse, dense = encoder()
    assert sparse.shape == (1, 0, 8)
    torch.testing.assert_close(dense, encoder.no_mask_embed.weight.reshape(1, 8, 1, 1).expand(1, 8, 3, 4))


def test_mask_prompt_is_downscaled_four_times(encoder):
    sparse, dense = encoder(masks=torch.randn(2, 1, 12, 16))
    assert sparse.shape == (2, 0, 8) and dense.shape == (2, 8, 3, 4)


def test_layer_norm_2d_normalises_channels():
    norm = LayerNorm2d(3)
    x = torch.randn(2, 3, 4, 5) * 7 + 2
    y = norm(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 4, 5), rtol=0, atol=1e-5)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(2, 4, 5), rtol=0, atol=1e-3)


def test_position_embedding_has_sine_then_cosine_halves():
    pe = PositionEmbeddingRandom(num_pos_feats=5)
    out = pe.forward_with_coords(torch.rand(1, 7, 2) * 10, (10, 10))
    assert out.shape == (1, 7, 10)
    torch.testing.assert_close(out[..., :5] ** 2 + out[..., 5:] ** 2, torch.ones(1, 7, 5))


@pytest.mark.parametrize('prompts, message', [
    (dict(points=(torch.zeros(2, 3, 2), torch.zeros(2, 4, dtype=torch.long))), 'labels must be (B, N) = (2, 3)'),
    (dict(points=(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long))), 'coords must be (B, N, 2)'),
    (dict(points=(torch.zeros(1, 1, 2), torch.tensor([[2]]))), 'must be 1 (positive), 0 (negative) or -1'),
    (dict(points=torch.zeros(1, 1, 2)), 'must be a (coords, labels) pair'),
    (dict(boxes=torch.zeros(2, 2, 2)), 'boxes must be (B, 4) or (B, 1, 4)'),
    (dict(masks=torch.zeros(2, 1, 48, 64)), 'masks must be (B, 1, 12, 16)'),
    (dict(masks=torch.zeros(2, 12, 16)), 'masks must be (B, 1, 12, 16)'),
    (dict(boxes=torch.zeros(2, 4), masks=torch.zeros(3, 1, 12, 16)), 'same batch size'),
])
def test_invalid_prompts_raise_clear_errors(encoder, prompts, message):
    with pytest.raises((ValueError, TypeError)) as error:
        encoder(**prompts)
    assert message in str(error.value)


def test_invalid_construction_raises():
    with pytest.raises(ValueError, match='embed_dim must be even'):
        PromptEncoder(**{**SMALL, 'embed_dim': 7})
    with pytest.raises(ValueError, match='mask_in_chans must be a multiple of 4'):
        PromptEncoder(**{**SMALL, 'mask_in_chans': 6})
