"""The memory benchmarks refuse to compare a length with itself (a ratio of 1.0 that would always pass)."""
import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / 'tools' / 'benchmark'


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('name, argv', [('session_memory', ['--lengths', '200']),
                                        ('vos_memory', ['--lengths', '500', '500']),
                                        ('inpaint_memory', ['--lengths', '100']),
                                        ('fastsam2_memory', ['--frames', '100'])])
def test_one_length_is_a_usage_error(name, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load(name).main(argv)
    assert exit_info.value.code == 2
    assert 'needs two different lengths' in capsys.readouterr().err
