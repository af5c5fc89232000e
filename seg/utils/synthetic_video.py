"""Long synthetic videos for the memory benchmarks: a short toy clip played back and forth, written as H.264."""
from pathlib import Path

import av
import cv2
import numpy as np

#: Frame rate of the written clips.
CLIP_FPS = 25


def ping_pong(num_frames: int, period: int) -> np.ndarray:
    """Indices 0, 1, ..., period-1, period-2, ..., 0, 1, ... of length ``num_frames``."""
    t = np.arange(num_frames) % max(2 * period - 2, 1)
    return np.where(t < period, t, 2 * period - 2 - t)


def write_clip(folder: Path, frames: np.ndarray, masks: np.ndarray, order: np.ndarray) -> None:
    """``folder``/video.mp4 of ``frames[order]`` ((T, H, W, 3) uint8 RGB) and ``folder``/masks/NNNNN.png of
    ``masks[order]`` ((T, H, W) uint8, written as grey PNGs)."""
    (folder / 'masks').mkdir(parents=True)
    with av.open(str(folder / 'video.mp4'), 'w') as container:
        stream = container.add_stream('libx264', rate=CLIP_FPS)
        stream.codec_context.height, stream.codec_context.width = frames.shape[1:3]
        stream.codec_context.pix_fmt = 'yuv420p'
        for index in order:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frames[index], format='rgb24')):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    for t, index in enumerate(order):
        cv2.imwrite(str(folder / 'masks' / f'{t:05d}.png'), masks[index])
