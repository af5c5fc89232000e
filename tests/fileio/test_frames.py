"""seg.fileio.frames sources: zips of frames (the third kind of open_frames), random access, hidden files."""
import os
import pickle
import zipfile

import av
import cv2
import numpy as np
import pytest

from seg.fileio.frames import FolderFrames, FrameSourceError, VideoFrames, ZipFrames, open_frames

H, W, T = 16, 24, 5


def frames_rgb():
    """(T, H, W, 3) uint8 RGB frames, each a distinct flat colour (lossless through PNG)."""
    return np.stack([np.full((H, W, 3), (10 * t, 100, 255 - 10 * t), np.uint8) for t in range(T)])


def png(rgb):
    return cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def write_zip(path, entries):
    with zipfile.ZipFile(path, 'w') as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def frame_zip(tmp_path):
    """A zip with the frames one folder deep, stored out of order, plus a hidden file and a text file."""
    entries = {f'clip/{t:05d}.png': png(f) for t, f in reversed(list(enumerate(frames_rgb())))}
    entries.update({'clip/._00000.png': b'resource fork', 'clip/notes.txt': b'hi'})
    return write_zip(tmp_path / 'clip.zip', entries)


def test_open_frames_reads_a_zip_in_name_order(frame_zip):
    source = open_frames(frame_zip)
    assert isinstance(source, ZipFrames)
    assert (source.num_frames, source.size, source.fps) == (T, (H, W), None)
    np.testing.assert_array_equal(np.stack(list(source)), frames_rgb())
    np.testing.assert_array_equal(np.stack(source.read([3, 0, 3])), frames_rgb()[[3, 0, 3]])


def test_a_zip_source_reopens_after_pickling_and_in_a_forked_child(frame_zip):
    source = ZipFrames(frame_zip)
    copy = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(copy.read([4])[0], frames_rgb()[4])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reads through a handle of its own (no shared file offset), then reports
        ok = np.array_equal(source.read([2])[0], frames_rgb()[2]) and source._pid == os.getpid()
        os.write(write_end, b'1' if ok else b'0')
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read_end, 1) == b'1'
    np.testing.assert_array_equal(source.read([1])[0], frames_rgb()[1])


def test_bad_zips_name_the_file_and_the_fix(tmp_path):
    (tmp_path / 'garbage.zip').write_bytes(b'not a zip')
    with pytest.raises(FrameSourceError, match=r'garbage.zip is not a readable zip.*re-create'):
        open_frames(tmp_path / 'garbage.zip')
    write_zip(tmp_path / 'empty.zip', {'readme.txt': b''})
    with pytest.raises(FrameSourceError, match='holds no frame images'):
        open_frames(tmp_path / 'empty.zip')
    small = cv2.resize(frames_rgb()[1], (W // 2, H))
    write_zip(tmp_path / 'mixed.zip', {'00000.png': png(frames_rgb()[0]), '00001.png': png(small)})
    with pytest.raises(FrameSourceError, match=rf'differ in size: {H}x{W} \(00000.png\), {H}x{W // 2}.*one size'):
        open_frames(tmp_path / 'mixed.zip')
    write_zip(tmp_path / 'broken.zip', {'00000.png': png(frames_rgb()[0]), '00001.jpg': b'garbage'})
    with pytest.raises(FrameSourceError, match=r'frame 00001.jpg of .*broken.zip is not a decodable image'):
        open_frames(tmp_path / 'broken.zip')
    plain = write_zip(tmp_path / 'plain.zip', {f'{t}.png': png(f) for t, f in enumerate(frames_rgb())})
    with pytest.raises(FrameSourceError, match=r'holds 5 frames but frames \[5\]'):
        open_frames(plain).read([0, 5])


def test_a_folder_skips_hidden_files_and_reads_any_frames(tmp_path):
    for t, frame in enumerate(frames_rgb()):
        (tmp_path / f'{t:05d}.png').write_bytes(png(frame))
    (tmp_path / '._00000.png').write_bytes(b'resource fork')
    source = open_frames(tmp_path)
    assert isinstance(source, FolderFrames) and source.num_frames == T
    np.testing.assert_array_equal(np.stack(source.read([4, 1])), frames_rgb()[[4, 1]])


def test_a_video_reads_frames_in_one_pass_and_names_missing_ones(tmp_path):
    path = tmp_path / 'clip.mp4'
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, 'yuv444p'
        stream.options = {'crf': '0'}
        for frame in frames_rgb():
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(stream.encode())
    source = open_frames(path)
    assert isinstance(source, VideoFrames)
    frames = source.read([3, 1])
    assert np.abs(np.stack(frames).astype(int) - frames_rgb()[[3, 1]]).max() <= 2
    assert source.read([]) == []
    with pytest.raises(FrameSourceError, match=r'ended after 5 frames but frames \[7\]'):
        source.read([0, 7])
