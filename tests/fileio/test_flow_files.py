"""Flow files: .flo (float32 Middlebury and ProPainter's float16) and .npy round trips, names, clear errors."""
import struct

import numpy as np
import pytest

from seg.fileio import InputError
from seg.fileio.flow_files import FlowFileError, flow_pair_names, read_flo, read_flow, write_flo, write_flow


@pytest.fixture
def flow():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((7, 5, 2)) * 10).astype(np.float32)


def test_flo_float32_round_trip_is_exact_and_follows_middlebury(tmp_path, flow):
    path = tmp_path / 'a.flo'
    write_flo(path, flow)
    data = path.read_bytes()
    # The Middlebury header: the float 202021.25, width, height; then x, y interleaved row by row.
    assert struct.unpack('<fii', data[:12]) == (202021.25, 5, 7)
    assert len(data) == 12 + 7 * 5 * 2 * 4
    assert struct.unpack('<ff', data[12:20]) == tuple(flow[0, 0])
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (7, 5, 2)
    assert np.array_equal(back, flow)


def test_flo_float16_is_propainters_variant(tmp_path, flow):
    path = tmp_path / 'a.flo'
    write_flo(path, flow, dtype='float16')
    data = path.read_bytes()
    assert data[:4] == b'PIEH' and len(data) == 12 + 7 * 5 * 2 * 2
    # What the official flowread does: int32 w, h after the magic, then float16 values.
    official = np.frombuffer(data[12:], np.float16).reshape(7, 5, 2).astype(np.float32)
    back = read_flo(path)
    assert np.array_equal(back, official) and back.dtype == np.float32
    assert np.allclose(back, flow, atol=0.02) and not np.array_equal(back, flow)


@pytest.mark.parametrize('dtype', ['float16', 'float32'])
def test_npy_round_trip(tmp_path, flow, dtype):
    path = tmp_path / 'a.npy'
    write_flow(path, flow, dtype)
    assert np.load(path).dtype == np.dtype(dtype)
    assert np.array_equal(read_flow(path), flow.astype(dtype).astype(np.float32))
    write_flow(tmp_path / 'b.flo', flow, dtype)
    assert np.array_equal(read_flow(tmp_path / 'b.flo'), read_flow(path))


def test_pair_names_follow_the_official_script():
    assert flow_pair_names('00003', '00004') == ('00003_00004_f.flo', '00004_00003_b.flo')
    assert flow_pair_names('a', 'b', '.npy') == ('a_b_f.npy', 'b_a_b.npy')
    with pytest.raises(ValueError, match='suffix'):
        flow_pair_names('a', 'b', '.png')


def test_corrupt_files_give_clear_input_errors(tmp_path, flow):
    path = tmp_path / 'a.flo'
    write_flo(path, flow)
    data = path.read_bytes()
    path.write_bytes(data[:-6])
    with pytest.raises(FlowFileError, match=r'a.flo announces a 5x7 flow but holds .* truncated or corrupt'):
        read_flo(path)
    path.write_bytes(b'JUNK' + data[4:])
    with pytest.raises(FlowFileError, match="not a .flo file"):
        read_flo(path)
    path.write_bytes(data[:4] + struct.pack('<ii', -3, 7) + data[12:])
    with pytest.raises(FlowFileError, match='announces a -3x7 flow'):
        read_flo(path)
    path.write_bytes(b'PI')
    with pytest.raises(FlowFileError, match='not a .flo file'):
        read_flo(path)
    with pytest.raises(FlowFileError, match='does not exist.*compute_flow.py'):
        read_flow(tmp_path / 'missing.flo')
    np.save(tmp_path / 'bad.npy', np.zeros((2, 7, 5), np.float32))
    with pytest.raises(FlowFileError, match=r'shape \(2, 7, 5\), not an \(H, W, 2\) flow'):
        read_flow(tmp_path / 'bad.npy')
    np.save(tmp_path / 'int.npy', np.zeros((7, 5, 2), np.int32))
    with pytest.raises(FlowFileError, match='int32 values'):
        read_flow(tmp_path / 'int.npy')
    (tmp_path / 'garbage.npy').write_bytes(b'\x93NUMPY garbage')
    with pytest.raises(FlowFileError, match='not a readable .npy'):
        read_flow(tmp_path / 'garbage.npy')
    assert issubclass(FlowFileError, InputError)


def test_writing_refuses_non_flows_and_leaves_nothing(tmp_path):
    with pytest.raises(FlowFileError, match=r'\(4, 4\)'):
        write_flo(tmp_path / 'a.flo', np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match='dtype'):
        write_flow(tmp_path / 'a.npy', np.zeros((4, 4, 2)), 'float64')
    assert list(tmp_path.iterdir()) == []
