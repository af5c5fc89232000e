"""FrameReader: random access by index equals sequential decoding (seeks included), a small cache, clear errors."""
import av
import cv2
import numpy as np
import pytest

from seg.fileio.frame_reader import FrameReader
from seg.fileio.frames import FrameSourceError, VideoFrames


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    """A 90-frame 64x96 H.264 video with a key frame every 10 frames, and its frames as PyAV decodes them."""
    path = tmp_path_factory.mktemp('video') / 'clip.mp4'
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=25)
        stream.codec_context.height, stream.codec_context.width = 64, 96
        stream.codec_context.pix_fmt = 'yuv420p'
        stream.codec_context.gop_size = 10
        for t in range(90):
            frame = np.roll(base, t, axis=1)
            cv2.putText(frame, str(t), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path, list(VideoFrames(path))


def test_random_access_equals_sequential_decoding(video):
    path, expected = video
    reader = FrameReader(path, cache_size=3)
    assert (reader.num_frames, reader.size, len(reader)) == (90, (64, 96), 90)
    order = [0, 89, 45, 46, 47, 12, 11, 10, 9, 70, 3, 88] + list(np.random.default_rng(1).integers(0, 90, 30))
    for index in order:
        assert np.array_equal(reader[int(index)], expected[index]), index
    assert len(reader._cache) == 3 and not reader[5].flags.writeable
    reader.close()
    assert np.array_equal(reader[50], expected[50])


def test_frame_folders(tmp_path):
    for t in range(4):
        cv2.imwrite(str(tmp_path / f'{t}.png'), np.full((8, 6, 3), 10 * t, np.uint8))
    reader = FrameReader(tmp_path)
    assert reader[3][0, 0, 0] == 30 and reader[1][0, 0, 0] == 10 and reader.fps is None


@pytest.mark.parametrize('index', [-1, 90, 1000])
def test_an_index_out_of_range_is_named(video, index):
    with pytest.raises(FrameSourceError, match=f'frame {index} asked for, but the video has 90 frames'):
        FrameReader(video[0])[index]
