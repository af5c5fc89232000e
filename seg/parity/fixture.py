"""Read parity fixtures: outputs of an official implementation on name-derived weights.

The format is defined by ``shared/parity/parity.py``: a ``.pt`` dict with
``manifest`` (the official state_dict layout), ``buffers`` (values of non-learned
buffers), ``inputs``, ``outputs``, optional ``metadata`` and ``meta`` (``kind``,
``rtol``, ``atol``, ``scale``...).  Learned tensors are not stored; each is
derived from its name, so :func:`fixture_state_dict` rebuilds exactly the
weights the official code ran with.
"""
import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Sequence, Tuple, Union

import torch

from seg.fileio.checkpoint import load_local_checkpoint


def derived_tensor(name: str, shape: Sequence[int], dtype: torch.dtype, kind: str) -> torch.Tensor:
    """The value of a ``param`` or ``stat`` manifest entry, a function of its name alone.

    Floating tensors draw from a CPU generator seeded with ``crc32(name)``:
    BN ``running_var`` in [0.5, 1.5), other stats N(0, 0.1²); params of rank >= 2
    N(0, 1/fan_in); 1-D ``*weight``/``*gamma`` 1 + N(0, 0.1²); other 1-D N(0, 0.1²).
    Integer tensors (e.g. ``num_batches_tracked``) are zeros.
    """
    shape = tuple(shape)
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode('utf-8')))
    if kind == 'stat':
        if name.endswith('running_var'):
            value = 0.5 + torch.rand(shape, generator=generator)
        else:
            value = 0.1 * torch.randn(shape, generator=generator)
    elif len(shape) >= 2:
        value = torch.randn(shape, generator=generator) / math.sqrt(max(1, math.prod(shape[1:])))
    elif name.endswith(('weight', 'gamma')):
        value = 1.0 + 0.1 * torch.randn(shape, generator=generator)
    else:
        value = 0.1 * torch.randn(shape, generator=generator)
    return value.to(dtype)


def fixture_state_dict(fixture: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """Rebuild the official-layout state_dict (with ``_metadata`` when the fixture has it)."""
    scale = fixture.get('meta', {}).get('scale', {})
    state = OrderedDict()
    if fixture.get('metadata') is not None:
        state._metadata = fixture['metadata']
    for entry in fixture['manifest']:
        name, kind = entry['name'], entry['kind']
        dtype = getattr(torch, entry['dtype'])
        if kind == 'buffer':
            state[name] = fixture['buffers'][name].clone()
            continue
        value = derived_tensor(name, entry['shape'], dtype, kind)
        if kind == 'param' and dtype.is_floating_point:
            for prefix, factor in scale.items():
                if name.startswith(prefix):
                    value = value * factor
        state[name] = value
    return state


def load_fixture(path: Union[str, Path]) -> dict:
    """Load a fixture file (it holds plain tensors and containers only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'parity fixture {path} not found')
    return load_local_checkpoint(str(path), map_location='cpu')


@dataclass
class OutputCheck:
    """How one output compares with the official value."""
    key: str
    ok: bool
    max_abs_diff: float
    detail: str = ''


def compare_outputs(outputs: Mapping, fixture: Mapping) -> Tuple[bool, Dict[str, OutputCheck]]:
    """Compare every ``fixture['outputs']`` entry with ``outputs`` under the fixture's tolerances.

    Tensors pass when ``torch.allclose(got, want, rtol, atol)`` (``meta`` values,
    defaults 1e-4 / 1e-5) holds after casting ``got`` to the official dtype on CPU;
    other values must be equal.

    Returns:
        tuple: ``(all_ok, {key: OutputCheck})``.
    """
    meta = fixture.get('meta', {})
    rtol, atol = meta.get('rtol', 1e-4), meta.get('atol', 1e-5)
    checks = {}
    for key, want in fixture['outputs'].items():
        if key not in outputs:
            checks[key] = OutputCheck(key, False, math.inf, f'missing; produced {sorted(outputs)}')
            continue
        got = outputs[key]
        if isinstance(want, torch.Tensor):
            got = torch.as_tensor(got).detach().to('cpu', want.dtype)
            if got.shape != want.shape:
                checks[key] = OutputCheck(key, False, math.inf,
                                          f'shape {tuple(got.shape)} != official {tuple(want.shape)}')
                continue
            diff = (got.double() - want.double()).abs().max().item() if want.numel() else 0.0
            checks[key] = OutputCheck(key, bool(torch.allclose(got, want, rtol=rtol, atol=atol)), diff)
        else:
            checks[key] = OutputCheck(key, got == want, 0.0 if got == want else math.inf,
                                      '' if got == want else f'{got!r} != official {want!r}')
    return all(c.ok for c in checks.values()), checks
