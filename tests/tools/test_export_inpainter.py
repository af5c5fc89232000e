"""tools/misc/export_inpainter.py: a training checkpoint's generator in the official release layout."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from seg.apis.export_inpainter import export_generator_state, export_inpainter
from seg.models.e2fgvi import E2FGVIHQGenerator
from seg.models.e2fgvi.e2fgvi_inpainter import E2FGVIInpainter
from seg.models.inpainters.video_inpainting_gan import VideoInpaintingGAN
from seg.parity import load_fixture

REPO = Path(__file__).resolve().parents[2]
HQ_FIXTURE = REPO.parent / 'shared' / 'parity' / 'fixtures' / 'e2fgvi_hq.pt'


def make_gan() -> VideoInpaintingGAN:
    torch.manual_seed(0)
    return VideoInpaintingGAN(generator=dict(type='E2FGVIHQGenerator', init_weights=False),
                              discriminator=dict(type='TemporalPatchDiscriminator'), flow_weight=0.0)


@pytest.fixture(scope='module')
def training_checkpoint(tmp_path_factory):
    """An mmengine-style checkpoint of a VideoInpaintingGAN (generator.*, discriminator.*, optimizer, meta)."""
    model = make_gan()
    path = tmp_path_factory.mktemp('ckpt') / 'iter_10.pth'
    torch.save(dict(meta=dict(iter=10), state_dict=model.state_dict(), optimizer=dict()), path)
    return path, model


def test_cli_writes_the_plain_official_state_dict(training_checkpoint, tmp_path):
    path, model = training_checkpoint
    out = tmp_path / 'E2FGVI-HQ-ours.pth'
    proc = subprocess.run([sys.executable, 'tools/misc/export_inpainter.py', str(path), '--out', str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(out, weights_only=True)
    reference = E2FGVIHQGenerator(init_weights=False).state_dict()
    assert list(state) == list(reference)
    assert all(torch.equal(state[k], v) for k, v in model.generator.state_dict().items())
    assert not any(k.startswith(('generator.', 'discriminator.', 'module.')) for k in state)
    E2FGVIHQGenerator(init_weights=False).load_state_dict(state, strict=True)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.skipif(not HQ_FIXTURE.is_file(), reason=f'parity fixture {HQ_FIXTURE} not found')
def test_export_has_the_released_checkpoint_layout(training_checkpoint):
    path, _ = training_checkpoint
    state = export_generator_state(torch.load(path, weights_only=True))
    manifest = load_fixture(HQ_FIXTURE)['manifest']
    assert [(k, list(v.shape)) for k, v in state.items()] == [(e['name'], e['shape']) for e in manifest]


def test_exported_file_loads_for_inference_and_for_fine_tuning(training_checkpoint, tmp_path):
    path, model = training_checkpoint
    out = export_inpainter(path, tmp_path / 'gen.pth')
    inpainter = E2FGVIInpainter(dict(type='E2FGVIHQGenerator', init_weights=False), checkpoint=str(out))
    assert all(torch.equal(v, model.generator.state_dict()[k]) for k, v in inpainter.generator.state_dict().items())
    # load_from=<exported or released file> in a training config: mmengine's loader, a fresh discriminator.
    fresh = make_gan()
    torch.manual_seed(1)
    fresh.generator.init_weights()
    _load_checkpoint_to_model(fresh, torch.load(out, weights_only=True), strict=False)
    assert all(torch.equal(v, model.generator.state_dict()[k]) for k, v in fresh.generator.state_dict().items())


def test_a_failed_export_leaves_the_previous_file(tmp_path):
    out = tmp_path / 'gen.pth'
    out.write_bytes(b'previous')
    bad = tmp_path / 'not_a_gan.pth'
    torch.save(dict(state_dict={'backbone.weight': torch.zeros(1)}), bad)
    with pytest.raises(ValueError, match='no E2FGVI generator weights'):
        export_inpainter(bad, out)
    assert out.read_bytes() == b'previous'
    partial = tmp_path / 'partial.pth'
    torch.save({'generator.sc.bias_conv.weight': torch.zeros(128, 128, 3, 3)}, partial)
    with pytest.raises(ValueError, match='do not match E2FGVIHQGenerator'):
        export_inpainter(partial, out)
    with pytest.raises(ValueError, match='.pth'):
        export_inpainter(bad, tmp_path / 'gen.txt')
    assert sorted(os.listdir(tmp_path)) == ['gen.pth', 'not_a_gan.pth', 'partial.pth']
