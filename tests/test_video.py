"""MP4 output read back with PyAV: frame count, colours, audio duration, user errors."""

import av
import numpy as np
import pytest

from app.errors import LivefaceError
from app.render.video import VideoWriter

WIDTH, HEIGHT, FPS = 64, 48, 25


def colour(index: int) -> np.ndarray:
    """A flat frame whose colour changes with its index."""
    value = (40 + 20 * index, 200 - 15 * index, 90)
    return np.broadcast_to(np.array(value, np.uint8), (HEIGHT, WIDTH, 3))


def test_frames_read_back_with_their_colours(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, FPS, WIDTH, HEIGHT) as video:
        for index in range(10):
            video.write(colour(index))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 10
    for index, frame in enumerate(frames):
        assert np.abs(frame.astype(int) - colour(index)).mean() < 4.0


def test_audio_track_has_the_clip_duration(tmp_path):
    path = tmp_path / "talk.mp4"
    rate_hz, seconds = 16000, 1.5
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    with VideoWriter(path, FPS, WIDTH, HEIGHT, audio=audio, audio_rate_hz=rate_hz) as video:
        for index in range(int(FPS * seconds)):
            video.write(colour(index % 10))
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac" and stream.rate == rate_hz
        assert float(stream.duration * stream.time_base) == pytest.approx(seconds, abs=0.1)
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert decoded.std() > 0.1  # the tone survived, not silence


def test_odd_sizes_are_a_user_error(tmp_path):
    with pytest.raises(LivefaceError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", FPS, 63, 48)


def test_unwritable_path_is_a_user_error(tmp_path):
    with pytest.raises(LivefaceError, match="cannot write"):
        with VideoWriter(tmp_path / "missing" / "clip.mp4", FPS, WIDTH, HEIGHT):
            pass


def test_wrong_frame_shape_is_a_user_error(tmp_path):
    with VideoWriter(tmp_path / "clip.mp4", FPS, WIDTH, HEIGHT) as video:
        with pytest.raises(LivefaceError, match="uint8 RGB"):
            video.write(np.zeros((HEIGHT, WIDTH + 2, 3), np.uint8))
