"""Class embeddings of the open-vocabulary classifier: synonym splitting, the prompt-ensemble maths,
padding, the file format and its errors, and tools/gen_cls.py end to end on a tiny random OpenCLIP model."""
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from seg.apis.vocabulary import class_names_from_config
from seg.models.utils.class_embedding import (VILD_TEMPLATES, ClassEmbeddingNotFoundError, OpenCLIPTextEncoder,
                                              build_class_embeddings, build_openclip_text_encoder, default_embedding_path,
                                              load_class_embeddings, read_class_names, save_class_embeddings,
                                              split_class_name)

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / 'tools' / 'gen_cls.py'
TOY_CONFIG = REPO / 'configs' / 'toy' / 'mask2former_r18_toy_panoptic.py'
FAKE_DIM = 8
TINY_DIM = 16


def load_tool():
    """tools/gen_cls.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location('fastsam2_gen_cls_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_vector(text: str) -> torch.Tensor:
    """A deterministic feature per string, with a length-dependent scale so normalisation matters."""
    generator = torch.Generator().manual_seed(zlib.crc32(text.encode()))
    return torch.randn(FAKE_DIM, generator=generator) * (1 + len(text))


def fake_encode(texts):
    return torch.stack([fake_vector(text) for text in texts])


def unit_rows(shape, seed=0):
    return torch.nn.functional.normalize(torch.randn(shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


# ------------------------------------------------------------------ synonyms and templates
@pytest.mark.parametrize('name, synonyms', [
    ('playingfield', ['playingfield']),
    ('wall-other-merged', ['wall-other-merged']),
    ('traffic light', ['traffic light']),
    ('Traffic Light', ['traffic light']),
    ('tv_or_monitor', ['tv', 'monitor']),
    ('dining_table', ['dining table']),
    ('fire_hydrant_or_water_plug', ['fire hydrant', 'water plug']),
    ('cup/mug', ['cup', 'mug']),
    ('bicycle,bicycles, bike ,bikes', ['bicycle', 'bicycles', 'bike', 'bikes']),
    ('wine glass,wine glasses,wineglass', ['wine glass', 'wine glasses', 'wineglass']),
    ('cat_OR_dog', ['cat or dog']),
    ('salt or pepper', ['salt or pepper']),
    ('cat,,', ['cat']),
    (' , /', []),
])
def test_split_class_name(name, synonyms):
    assert split_class_name(name) == synonyms


def test_vild_templates_are_the_fourteen_prompts():
    assert len(VILD_TEMPLATES) == 14 == len(set(VILD_TEMPLATES))
    assert all(template.count('{}') == 1 for template in VILD_TEMPLATES)
    assert VILD_TEMPLATES[0] == 'a photo of a {}.' and VILD_TEMPLATES[1] == 'This is a photo of a {}'


# ------------------------------------------------------------------ the embedding maths
def expected_synonym_row(synonym: str) -> torch.Tensor:
    """Per template normalise, mean over templates, normalise: written out one vector at a time."""
    vectors = [fake_vector(template.format(synonym)) for template in VILD_TEMPLATES]
    vectors = [vector / vector.norm() for vector in vectors]
    mean = sum(vectors) / len(vectors)
    return mean / mean.norm()


def test_embeddings_are_normalised_means_of_normalised_prompts():
    names = ['traffic light', 'wall-other-merged']
    embeddings = build_class_embeddings(names, fake_encode)
    assert embeddings.shape == (2, 1, FAKE_DIM) and embeddings.dtype == torch.float32
    for row, name in zip(embeddings, names):
        torch.testing.assert_close(row[0], expected_synonym_row(name))
    # Skipping the per-template normalisation gives another answer: the test above can tell them apart.
    raw_mean = torch.stack([fake_vector(t.format(names[0])) for t in VILD_TEMPLATES]).mean(0)
    assert not torch.allclose(embeddings[0, 0], raw_mean / raw_mean.norm(), atol=1e-3)


def test_padding_repeats_first_synonym():
    embeddings = build_class_embeddings(['person,child,girl', 'car', 'tv_or_monitor'], fake_encode)
    assert embeddings.shape == (3, 3, FAKE_DIM)
    torch.testing.assert_close(embeddings[0, 2], expected_synonym_row('girl'))
    for column in (1, 2):
        assert torch.equal(embeddings[1, column], embeddings[1, 0])
    torch.testing.assert_close(embeddings[1, 0], expected_synonym_row('car'))
    torch.testing.assert_close(embeddings[2, 1], expected_synonym_row('monitor'))
    assert torch.equal(embeddings[2, 2], embeddings[2, 0])
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3, 3))


def test_batching_does_not_change_the_result():
    sizes = []

    def counting_encode(texts):
        sizes.append(len(texts))
        return fake_encode(texts)

    names = ['person,child,girl', 'car', 'tv_or_monitor']
    small = build_class_embeddings(names, counting_encode, batch_size=5)
    assert max(sizes) == 5 and sum(sizes) == 6 * len(VILD_TEMPLATES)
    assert torch.equal(small, build_class_embeddings(names, fake_encode, batch_size=256))


def test_build_rejects_bad_input():
    with pytest.raises(ValueError, match='no synonym'):
        build_class_embeddings(['car', ' / '], fake_encode)
    with pytest.raises(ValueError, match='non-empty list'):
        build_class_embeddings('car', fake_encode)
    with pytest.raises(ValueError, match=r'must return \(14, D\)'):
        build_class_embeddings(['car'], lambda texts: torch.ones(3, FAKE_DIM))


# ------------------------------------------------------------------ the file
def test_save_load_round_trip_and_official_bare_tensor(tmp_path):
    embeddings = unit_rows((5, 2, FAKE_DIM))
    path = save_class_embeddings(embeddings, tmp_path / 'sub' / 'vocab.pth')
    assert torch.equal(load_class_embeddings(path, num_classes=5, embed_dim=FAKE_DIM), embeddings)
    official = tmp_path / 'convnext_large_d_320_CocoPanopticOVDataset.pth'
    torch.save(embeddings, official)  # what RAP-SAM's tool writes
    assert torch.equal(load_class_embeddings(official), embeddings)


def test_missing_file_names_path_and_the_command_that_writes_it(tmp_path):
    path = tmp_path / 'convnext_large_d_320_CocoPanopticOVDataset.pth'
    with pytest.raises(ClassEmbeddingNotFoundError) as info:
        load_class_embeddings(path, num_classes=133)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    command = next(line.strip() for line in message.splitlines() if 'python tools/gen_cls.py' in line)
    assert str(path) in message
    # The command is one the tool accepts, and it writes to the missing path.
    words = shlex.split(command)
    assert words[:2] == ['python', 'tools/gen_cls.py']
    args = load_tool().parse_args(words[2:])
    assert Path(args.out) == path and args.clip_model and args.clip_checkpoint


@pytest.mark.parametrize('content, match', [
    (unit_rows((5, FAKE_DIM)), r'got shape \(5, 8\)'),
    (unit_rows((7, 1, FAKE_DIM)), r'expected 133 classes .* got 7'),
    ({'embeddings': unit_rows((133, 1, FAKE_DIM))}, 'got a dict'),
    (torch.ones(133, 1, FAKE_DIM), 'unit vectors'),
    (torch.ones(133, 1, FAKE_DIM, dtype=torch.int64), 'floating-point'),
])
def test_bad_content_is_a_clear_value_error(tmp_path, content, match):
    path = tmp_path / 'vocab.pth'
    torch.save(content, path)
    with pytest.raises(ValueError, match=match) as info:
        load_class_embeddings(path, num_classes=133)
    assert str(path) in str(info.value)


def test_wrong_dim_and_unreadable_file(tmp_path):
    path = save_class_embeddings(unit_rows((3, 1, FAKE_DIM)), tmp_path / 'vocab.pth')
    with pytest.raises(ValueError, match='expected dim 768 .* got 8'):
        load_class_embeddings(path, embed_dim=768)
    path.write_bytes(b'not a torch file')
    with pytest.raises(ValueError, match='not a tensor file'):
        load_class_embeddings(path)


@pytest.mark.parametrize('failure', [OSError('disk full'), KeyboardInterrupt()])
def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch, failure):
    path = tmp_path / 'vocab.pth'
    old = unit_rows((3, 2, FAKE_DIM))
    save_class_embeddings(old, path)

    def save_half_then_fail(obj, file, *args, **kwargs):
        file.write(b'PK\x03\x04 half a file')
        raise failure

    monkeypatch.setattr(torch, 'save', save_half_then_fail)
    with pytest.raises(type(failure)):
        save_class_embeddings(unit_rows((4, 2, FAKE_DIM), seed=1), path)
    monkeypatch.undo()
    assert torch.equal(load_class_embeddings(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ['vocab.pth']

    with pytest.raises(ValueError, match='unit vectors'):
        save_class_embeddings(torch.ones(4, 2, FAKE_DIM), path)
    new = unit_rows((4, 2, FAKE_DIM), seed=1)
    save_class_embeddings(new, path)
    assert torch.equal(load_class_embeddings(path), new)


# ------------------------------------------------------------------ where class names come from
def test_read_class_names(tmp_path):
    listing = tmp_path / 'my_vocab.txt'
    listing.write_text('# COCO-OV style: commas are synonyms\nbicycle,bicycles,bike\n\ntraffic light\n')
    assert read_class_names(str(listing)) == (['bicycle,bicycles,bike', 'traffic light'], 'my_vocab')
    assert read_class_names('cat/kitty, dog ,tv_or_monitor') == (['cat/kitty', 'dog', 'tv_or_monitor'], 'custom')
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        read_class_names(str(tmp_path / 'missing.txt'))
    with pytest.raises(ValueError, match='repeat'):
        read_class_names('cat,dog,cat')


def test_class_names_from_config():
    names, dataset = class_names_from_config(TOY_CONFIG)
    assert names == ['disk', 'box', 'triangle', 'wall', 'floor'] and dataset == 'CocoPanopticDataset'


def test_default_embedding_path():
    assert default_embedding_path('convnext_large_d_320', 'CocoPanopticOVDataset') == Path(
        'checkpoints/class_embeddings/convnext_large_d_320_CocoPanopticOVDataset.pth')
    assert default_embedding_path('/x/tiny_clip.json', 'custom').name == 'tiny_clip_custom.pth'


def test_tool_without_open_clip_names_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'open_clip', None)
    with pytest.raises(SystemExit) as info:
        load_tool().main(['--classes-from', 'cat', '--clip-model', 'x', '--clip-checkpoint', 'x.pt'])
    assert 'pip install open_clip_torch' in str(info.value.code)


# ------------------------------------------------------------------ OpenCLIP, end to end
TINY_CLIP_CONFIG = {
    'embed_dim': TINY_DIM,
    'vision_cfg': {'image_size': 32, 'patch_size': 16, 'width': 32, 'layers': 1, 'head_width': 16},
    'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2, 'layers': 1},
}


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    """(model config .json, random-init state_dict .pt) of a tiny OpenCLIP model; skips without open_clip."""
    open_clip = pytest.importorskip('open_clip', reason='open_clip is not importable (pip install open_clip_torch)')
    root = tmp_path_factory.mktemp('tiny_clip')
    config = root / 'fastsam2_tiny_clip.json'
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model('fastsam2_tiny_clip', pretrained=None)
    checkpoint = root / 'tiny_clip.pt'
    torch.save(model.state_dict(), checkpoint)
    return config, checkpoint


def test_encoder_is_the_eot_feature_of_the_text_tower(tiny_clip):
    """RAP-SAM's OpenCLIPBackboneText: ln_final output at the end-of-text token (argmax id) @ text_projection."""
    import open_clip
    config, checkpoint = tiny_clip
    encoder = build_openclip_text_encoder(str(config), checkpoint)
    assert isinstance(encoder, OpenCLIPTextEncoder) and not hasattr(encoder.model, 'visual')  # never built
    model = open_clip.create_model('fastsam2_tiny_clip', pretrained=None)
    model.load_state_dict(torch.load(checkpoint, weights_only=True))
    texts = ['a photo of a traffic light.', 'There is a tv in the scene']
    tokens = open_clip.get_tokenizer('fastsam2_tiny_clip')(texts)
    with torch.no_grad():
        x = model.token_embedding(tokens) + model.positional_embedding
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))
        expected = x[torch.arange(len(texts)), tokens.argmax(dim=-1)] @ model.text_projection
    torch.testing.assert_close(encoder(texts), expected)


def test_encoder_errors(tiny_clip, tmp_path):
    config, checkpoint = tiny_clip
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        build_openclip_text_encoder(str(config), tmp_path / 'missing.bin')
    with pytest.raises(ValueError, match='unknown OpenCLIP model'):
        build_openclip_text_encoder('convnext_larg_d_320', checkpoint)
    state_dict = torch.load(checkpoint, weights_only=True)
    del state_dict['text_projection']
    torch.save(state_dict, tmp_path / 'partial.pt')
    with pytest.raises(ValueError, match='does not load into OpenCLIP model fastsam2_tiny_clip'):
        build_openclip_text_encoder(str(config), tmp_path / 'partial.pt')


def test_gen_cls_tool_end_to_end(tiny_clip, tmp_path):
    config, checkpoint = tiny_clip
    clip_args = ['--clip-model', str(config), '--clip-checkpoint', str(checkpoint), '--device', 'cpu']
    out = tmp_path / 'from_subprocess.pth'
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable, str(TOOL), '--classes-from', 'person/child/girl,car,tv_or_monitor',
                           *clip_args, '--out', str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    embeddings = load_class_embeddings(out, num_classes=3, embed_dim=TINY_DIM)
    assert embeddings.shape == (3, 3, TINY_DIM)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3, 3))
    assert torch.equal(embeddings[1, 2], embeddings[1, 0]) and not torch.equal(embeddings[0, 1], embeddings[0, 0])

    # Deterministic: the same vocabulary from a class-list file, in this process, gives the same bytes' values.
    listing = tmp_path / 'vocab.txt'
    listing.write_text('person,child,girl\ncar\ntv/monitor\n')
    again = tmp_path / 'in_process.pth'
    assert load_tool().main(['--classes-from', str(listing), *clip_args, '--out', str(again)]) == 0
    assert torch.equal(load_class_embeddings(again), embeddings)

    # From a config's dataset metainfo.
    from_config = tmp_path / 'toy.pth'
    assert load_tool().main([str(TOY_CONFIG), *clip_args, '--out', str(from_config)]) == 0
    assert load_class_embeddings(from_config, num_classes=5, embed_dim=TINY_DIM).shape == (5, 1, TINY_DIM)

    with pytest.raises(SystemExit) as info:
        load_tool().main(['--classes-from', 'cat', '--clip-model', str(config), '--clip-checkpoint',
                          str(tmp_path / 'nope.bin')])
    assert 'nope.bin' in str(info.value.code)
