"""MP4 output: H.264 video (yuv420p, playable everywhere) with optional AAC audio.

Audio is the project's internal format, mono float32 at `audio_rate_hz` (16 kHz), and is
written after the frames so that its stream length matches the samples given.
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from app.errors import LivefaceError

AUDIO_FRAME_SAMPLES = 1024  # AAC encodes 1024-sample frames


class VideoWriter:
    """Context manager writing RGB frames (and the audio track, if given) to an MP4."""

    def __init__(self, path: Path | str, fps: float, width: int, height: int,
                 audio: np.ndarray | None = None, audio_rate_hz: int = 16000):
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise LivefaceError(
                f"H.264 video needs positive even sizes; got {width}x{height}. "
                "Choose an even width and height.")
        if not fps > 0:
            raise LivefaceError(f"frames per second must be positive, got {fps}.")
        self.path, self.width, self.height = Path(path), width, height
        self.fps = Fraction(fps).limit_denominator(1001)
        self.audio = None if audio is None else np.asarray(audio, np.float32).reshape(-1)
        self.audio_rate_hz = int(audio_rate_hz)
        self.frames = 0
        self._container = None

    def __enter__(self) -> "VideoWriter":
        try:
            # FFmpeg opens the file only when the header is written, so an unwritable
            # path would fail late and quietly; probe it here instead.
            with open(self.path, "wb"):
                pass
            self._container = av.open(str(self.path), mode="w", format="mp4")
        except (OSError, av.FFmpegError) as err:
            reason = getattr(err, "strerror", None) or err
            raise LivefaceError(
                f"cannot write video {self.path} ({reason}); choose a writable path.") from None
        self._video = self._container.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": "18", "preset": "veryfast"}
        self._audio_stream = None
        if self.audio is not None:
            self._audio_stream = self._container.add_stream("aac", rate=self.audio_rate_hz)
            self._audio_stream.layout = "mono"
        return self

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one (height, width, 3) uint8 frame."""
        image = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
        if image.shape != (self.height, self.width, 3):
            raise LivefaceError(
                f"frame has shape {image.shape}; this video takes "
                f"({self.height}, {self.width}, 3) uint8 RGB frames.")
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self.frames
        self._container.mux(self._video.encode(frame))
        self.frames += 1

    def _write_audio(self) -> None:
        samples = np.clip(self.audio, -1.0, 1.0)
        for start in range(0, len(samples), AUDIO_FRAME_SAMPLES):
            chunk = samples[start:start + AUDIO_FRAME_SAMPLES]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = self.audio_rate_hz
            frame.pts = start
            self._container.mux(self._audio_stream.encode(frame))
        self._container.mux(self._audio_stream.encode(None))

    def __exit__(self, *exc_info) -> None:
        try:
            self._container.mux(self._video.encode(None))
            if self._audio_stream is not None:
                self._write_audio()
        finally:
            self._container.close()
