"""seg.fileio.atomic: whole new content or none, no temporary sibling left, open()'s permission bits."""
import json
import os
import stat

import pytest

from seg.fileio.atomic import PART_SUFFIX, atomic_path, atomic_write_bytes, temp_sibling, write_json_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def test_success_renames_the_temporary_file_over_the_target(tmp_path):
    target = tmp_path / 'out' / 'result.bin'  # the parent is created
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith('.result.bin.') and tmp.name.endswith(PART_SUFFIX)
        assert not target.exists()
        tmp.write_bytes(b'new')
    assert target.read_bytes() == b'new'
    assert [p.name for p in target.parent.iterdir()] == ['result.bin']


@pytest.mark.parametrize('existing', [False, True])
def test_an_exception_leaves_no_part_file_and_the_old_target(tmp_path, existing):
    target = tmp_path / 'result.bin'
    if existing:
        target.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='half way'):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b'half')
            raise RuntimeError('half way')
    assert [p.name for p in tmp_path.iterdir()] == (['result.bin'] if existing else [])
    if existing:
        assert target.read_bytes() == b'old'


def test_folders_are_renamed_whole_or_removed(tmp_path):
    target = tmp_path / 'frames'
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / '00000.png').write_bytes(b'a')
    assert [p.name for p in target.iterdir()] == ['00000.png']
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / 'other') as tmp:
            tmp.mkdir()
            (tmp / '00000.png').write_bytes(b'a')
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ['frames']


@pytest.mark.parametrize('mask', [0o022, 0o077, 0o002])
def test_a_file_gets_0666_less_the_umask(tmp_path, umask, mask):
    umask(mask)
    target = tmp_path / 'result.json'
    write_json_atomic(target, dict(a=1))
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    with atomic_path(tmp_path / 'private.bin', mode=0o600, sync=True) as tmp:
        tmp.write_bytes(b'x')
    assert stat.S_IMODE((tmp_path / 'private.bin').stat().st_mode) == 0o600


def test_writers_write_the_content(tmp_path):
    atomic_write_bytes(b'\x00\x01', tmp_path / 'a.bin')
    assert (tmp_path / 'a.bin').read_bytes() == b'\x00\x01'
    write_json_atomic(tmp_path / 'b.json', dict(x=[1, 2], y=float('inf')))
    assert json.loads((tmp_path / 'b.json').read_text()) == dict(x=[1, 2], y=float('inf'))
    assert temp_sibling(tmp_path / 'a.bin') != temp_sibling(tmp_path / 'a.bin')
