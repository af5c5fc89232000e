import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from seg.parity import compare_outputs, fixture_state_dict, load_fixture
from seg.registry import PARITY_RUNNERS

REPO = Path(__file__).resolve().parents[2]
SHARED_PARITY = REPO.parent / 'shared' / 'parity'

sys.path.insert(0, str(REPO / 'tools' / 'misc'))
import check_parity  # noqa: E402


class Toy(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.register_buffer('offset', torch.tensor([0.5, -1.0, 2.0]))

    def forward(self, x):
        return self.bn(self.conv(x)) + self.offset.view(1, 3, 1, 1)


def make_fixture(path, scale=None, tamper=0.0):
    """A fixture in the shared format, made the way the official side makes them."""
    model = Toy().eval()
    manifest = []
    for name, value in model.state_dict().items():
        kind = ('param' if name in dict(model.named_parameters()) else
                'stat' if name.endswith(('running_mean', 'running_var', 'num_batches_tracked')) else 'buffer')
        manifest.append(dict(name=name, shape=list(value.shape), dtype=str(value.dtype)[6:], kind=kind))
    fixture = dict(manifest=manifest, buffers={'offset': model.offset.clone()}, metadata=None,
                   meta=dict(kind='toy_conv_bn', scale=scale or {}, rtol=1e-5, atol=1e-6))
    model.load_state_dict(fixture_state_dict(fixture))
    x = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    fixture['inputs'] = dict(x=x)
    fixture['outputs'] = dict(y=model(x).detach() + tamper)
    torch.save(fixture, path)
    return path


@pytest.fixture
def toy_runner():
    def run(fixture):
        model = Toy().eval()
        model.load_state_dict(fixture_state_dict(fixture), strict=True)
        return dict(y=model(fixture['inputs']['x']))

    PARITY_RUNNERS.register_module('toy_conv_bn', module=run)
    yield
    PARITY_RUNNERS.module_dict.pop('toy_conv_bn')


def test_cli_passes_matching_fixture(tmp_path, toy_runner, capsys):
    path = make_fixture(tmp_path / 'toy.pt', scale={'conv.': 0.5})
    assert check_parity.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert 'PASS' in out and 'y: max abs diff' in out and '1 passed, 0 failed' in out


def test_cli_fails_on_mismatch(tmp_path, toy_runner, capsys):
    path = make_fixture(tmp_path / 'toy.pt', tamper=1e-3)
    assert check_parity.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert 'FAIL' in out and 'BAD' in out and '0.001' in out


def test_cli_unknown_kind_exits_nonzero(tmp_path):
    path = make_fixture(tmp_path / 'toy.pt')
    proc = subprocess.run([sys.executable, str(REPO / 'tools/misc/check_parity.py'), str(path)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert "no parity runner for fixture kind 'toy_conv_bn'" in proc.stdout


def test_compare_reports_shape_and_missing_keys():
    fixture = dict(outputs=dict(a=torch.zeros(2), b=torch.zeros(1)), meta={})
    ok, checks = compare_outputs(dict(a=torch.zeros(3)), fixture)
    assert not ok
    assert 'shape' in checks['a'].detail and 'missing' in checks['b'].detail


@pytest.mark.skipif(not (SHARED_PARITY / 'parity.py').is_file(), reason='shared/parity not beside the repo')
def test_state_dict_matches_shared_reference():
    spec = importlib.util.spec_from_file_location('shared_parity', SHARED_PARITY / 'parity.py')
    shared = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shared)
    fixtures = sorted((SHARED_PARITY / 'fixtures').glob('*.pt'))
    assert fixtures
    for path in fixtures[:4] + fixtures[-2:]:
        fixture = load_fixture(path)
        ours, theirs = fixture_state_dict(fixture), shared.state_dict(fixture)
        assert list(ours) == list(theirs)
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), path.name
        assert getattr(ours, '_metadata', None) == getattr(theirs, '_metadata', None)
