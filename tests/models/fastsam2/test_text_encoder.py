"""TextEncoder (OpenCLIP text tower from a local checkpoint, cached) and ToyTextEncoder."""
import json

import pytest
import torch
from mmengine.structures import InstanceData

from seg.models.fastsam2 import PromptFusion, TextEncoder, ToyTextEncoder
from seg.registry import MODELS

open_clip = pytest.importorskip('open_clip', reason='open_clip is not importable (pip install open_clip_torch)')

TINY_NAME = 'fastsam2_tiny_text_encoder_clip'
TINY_DIM = 32
TINY_CLIP_CONFIG = {
    'embed_dim': TINY_DIM,
    'vision_cfg': {'image_size': 32, 'patch_size': 16, 'width': 32, 'layers': 1, 'head_width': 16},
    'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1},
}
TEXTS = ['the cat on the left', 'a red car', 'the cat on the left', 'a person riding a horse']


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    """(model config .json, checkpoint of the whole random-init CLIP, the CLIP model itself)."""
    root = tmp_path_factory.mktemp('tiny_text_clip')
    config = root / f'{TINY_NAME}.json'
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_NAME, pretrained=None).eval()
    checkpoint = root / 'tiny_clip.pt'
    torch.save(model.state_dict(), checkpoint)
    return config, checkpoint, model


def _encode_text(model, texts, normalize):
    with torch.no_grad():
        return model.encode_text(open_clip.get_tokenizer(TINY_NAME)(texts), normalize=normalize)


class _CountCalls:
    """Counts the text tower's forward calls and the sentences each one got."""

    def __init__(self, encoder: TextEncoder):
        self.batches = []
        encoder.text_tower.register_forward_hook(lambda module, args, out: self.batches.append(len(args[0])))


@pytest.mark.parametrize('normalize', [True, False])
def test_embeddings_are_open_clips_encode_text(tiny_clip, normalize):
    config, checkpoint, model = tiny_clip
    encoder = MODELS.build(dict(type='TextEncoder', model_name=str(config), checkpoint=str(checkpoint),
                                normalize=normalize))
    assert encoder.embed_dim == TINY_DIM and encoder.model_name == TINY_NAME
    torch.testing.assert_close(encoder(TEXTS), _encode_text(model, TEXTS, normalize))
    if normalize:
        torch.testing.assert_close(encoder(TEXTS).norm(dim=-1), torch.ones(len(TEXTS)))


def test_only_the_text_tower_is_kept_and_it_is_frozen(tiny_clip):
    config, checkpoint, model = tiny_clip
    encoder = TextEncoder(str(config), str(checkpoint))
    names = [name for name, _ in encoder.named_parameters()]
    assert not any('visual' in name for name in names) and not hasattr(encoder.text_tower, 'visual')
    text_params = sum(p.numel() for name, p in model.named_parameters()
                      if not name.startswith('visual.') and name != 'logit_scale')
    assert sum(p.numel() for p in encoder.parameters()) == text_params
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert encoder.training and not encoder.text_tower.training


def test_cache_returns_the_same_tensors_without_recomputing(tiny_clip):
    config, checkpoint, _ = tiny_clip
    encoder = TextEncoder(str(config), str(checkpoint), cache_size=2)
    calls = _CountCalls(encoder)
    first = encoder(['a', 'b', 'a'])
    assert calls.batches == [2]  # a repeated sentence is encoded once
    assert torch.equal(first[0], first[2]) and not first.requires_grad
    again = encoder(['b', 'a'])
    assert calls.batches == [2] and torch.equal(again[0], first[1]) and torch.equal(again[1], first[0])
    encoder(['c'])  # 'b' was used less recently than 'a': it is evicted
    assert calls.batches == [2, 1]
    encoder(['a'])
    assert calls.batches == [2, 1]
    encoder(['b'])
    assert calls.batches == [2, 1, 1]
    encoder.load_state_dict(encoder.state_dict())  # new weights: the cache is dropped
    encoder(['b'])
    assert calls.batches == [2, 1, 1, 1]


def test_cache_follows_the_module_device_and_dtype(tiny_clip):
    config, checkpoint, _ = tiny_clip
    encoder = TextEncoder(str(config), str(checkpoint))
    calls = _CountCalls(encoder)
    single = encoder(['a red car'])
    encoder.to(torch.float64)
    doubled = encoder(['a red car'])
    assert calls.batches == [1] and doubled.dtype == torch.float64
    assert torch.equal(doubled, single.double())
    encoder.to('meta')
    assert encoder(['a red car']).device.type == 'meta' and calls.batches == [1]


def test_trainable_tower_gets_gradients_and_is_not_cached(tiny_clip):
    config, checkpoint, _ = tiny_clip
    encoder = TextEncoder(str(config), str(checkpoint), frozen=False)
    calls = _CountCalls(encoder)
    encoder(['a red car']).sum().backward()
    encoder(['a red car'])
    assert calls.batches == [1, 1]
    assert all(p.grad is not None for p in encoder.parameters())


@pytest.mark.parametrize('layout', ['custom_text', 'wrapped'])
def test_other_checkpoint_layouts_load(tiny_clip, tmp_path, layout):
    """CustomTextCLIP keeps the text tower under ``text.``; a training checkpoint under ``state_dict`` + DDP."""
    config, checkpoint, model = tiny_clip
    state = torch.load(checkpoint, weights_only=True)
    if layout == 'custom_text':
        top_level = ('visual.', 'logit_scale')
        state = {(key if key.startswith(top_level) else f'text.{key}'): value for key, value in state.items()}
    else:
        state = {'state_dict': {f'module.{key}': value for key, value in state.items()}}
    torch.save(state, tmp_path / 'other.pth')
    encoder = TextEncoder(str(config), str(tmp_path / 'other.pth'))
    torch.testing.assert_close(encoder(TEXTS), _encode_text(model, TEXTS, True))


def test_checkpoint_errors(tiny_clip, tmp_path):
    config, checkpoint, _ = tiny_clip
    missing = tmp_path / 'nowhere' / 'open_clip_pytorch_model.bin'
    with pytest.raises(FileNotFoundError) as info:
        TextEncoder(str(config), str(missing))
    assert str(missing) in str(info.value) and 'nothing is downloaded' in str(info.value)
    state = torch.load(checkpoint, weights_only=True)
    del state['text_projection']
    torch.save(state, tmp_path / 'partial.pt')
    with pytest.raises(ValueError, match=f'does not load into OpenCLIP model {TINY_NAME}.*text_projection'):
        TextEncoder(str(config), str(tmp_path / 'partial.pt'))
    with pytest.raises(ValueError, match='cache_size'):
        TextEncoder(str(config), str(checkpoint), cache_size=-1)


def test_prompt_fusion_with_a_frozen_clip_text_encoder(tiny_clip):
    config, checkpoint, _ = tiny_clip
    fusion = PromptFusion(16, 'cross_attention', dict(type='TextEncoder', model_name=str(config),
                                                      checkpoint=str(checkpoint)))
    for prompts in ([InstanceData(texts=['a red car', 'the cat'])],
                    [InstanceData(boxes=torch.tensor([[1., 2., 5., 6.]]))]):  # no text: the dummy is cached
        fusion.zero_grad(set_to_none=True)
        queries, valid = fusion(prompts, [(8, 8)])
        queries.sum().backward()
        assert [name for name, p in fusion.named_parameters() if p.requires_grad and p.grad is None] == []
        assert not any(p.requires_grad for p in fusion.text_encoder.parameters())


# ------------------------------------------------------------------ ToyTextEncoder

def test_toy_words_hash_the_same_in_every_process():
    """CRC-32 buckets are fixed numbers (Python's salted hash would differ between processes)."""
    encoder = ToyTextEncoder(vocab_size=1024)
    assert encoder.word_ids('The LEFT cat, right?') == [486, 872, 936, 276]


def test_toy_encoder_interface_and_training():
    torch.manual_seed(0)
    encoder = MODELS.build(dict(type='ToyTextEncoder', embed_dim=8))
    assert encoder.embed_dim == 8
    out = encoder(['the left cat', 'Cat the LEFT', 'the right cat', '?!'])
    assert out.shape == (4, 8)
    torch.testing.assert_close(out[0], out[1])  # a bag of words: case and order do not matter
    assert not torch.allclose(out[0], out[2])
    assert encoder([]).shape == (0, 8)
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())
    with pytest.raises(TypeError, match='list of sentences'):
        encoder('a cat')


def test_init_weights_restores_the_clip_weights(tiny_clip):
    """A parent's init_cfg (e.g. Xavier on every Linear) runs before its children's init_weights."""
    config, checkpoint, model = tiny_clip
    fusion = PromptFusion(16, text_encoder=dict(type='TextEncoder', model_name=str(config),
                                                checkpoint=str(checkpoint)))
    encoder = fusion.text_encoder
    before = encoder(TEXTS)
    for module in encoder.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight)
    encoder.clear_cache()
    assert not torch.allclose(encoder(TEXTS), before)
    fusion.init_weights()
    torch.testing.assert_close(encoder(TEXTS), _encode_text(model, TEXTS, True))
