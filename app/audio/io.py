"""Reading and writing audio files as the internal format: mono float32 at 16 kHz.

Any container and codec FFmpeg reads (WAV, FLAC, MP3, Ogg, M4A, ...) is decoded with PyAV,
mixed to mono and resampled with soxr. Headerless `.raw` files are 16-bit little-endian
mono at 16 kHz, the format speech tools such as pocketsphinx use.
"""

import wave
from pathlib import Path

import av
import numpy as np
import soxr

from app.audio.contract import SAMPLE_RATE_HZ
from app.errors import LivefaceError


def read_audio(path: Path) -> np.ndarray:
    """The file's audio as mono float32 at 16 kHz; a clear error for anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise LivefaceError(f"audio file {path} does not exist.")
    if path.stat().st_size == 0:
        raise LivefaceError(f"audio file {path} is empty (0 bytes); record or copy it again.")
    if path.suffix.lower() == ".raw":
        audio = np.frombuffer(path.read_bytes(), dtype="<i2").astype(np.float32) / 32768.0
    else:
        audio = _decode(path)
    if audio.size == 0:
        raise LivefaceError(f"audio file {path} holds no samples.")
    if not np.all(np.isfinite(audio)):
        raise LivefaceError(f"audio file {path} holds NaN or infinite samples.")
    return audio


def _decode(path: Path) -> np.ndarray:
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise LivefaceError(f"{path} has no audio stream.")
            stream = container.streams.audio[0]
            chunks = [_mono(frame.to_ndarray(), frame.format.is_planar, len(frame.layout.channels))
                      for frame in container.decode(stream)]
            rate_hz = stream.codec_context.sample_rate
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise LivefaceError(f"cannot decode audio file {path}: {err}.") from None
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if rate_hz != SAMPLE_RATE_HZ and audio.size:
        audio = soxr.resample(audio, rate_hz, SAMPLE_RATE_HZ)
    return audio.astype(np.float32)


def _mono(samples: np.ndarray, planar: bool, channels: int) -> np.ndarray:
    """Average channels of one decoded frame into float32 in [-1, 1]."""
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768.0
    elif samples.dtype == np.int32:
        samples = samples.astype(np.float32) / 2147483648.0
    elif samples.dtype == np.uint8:
        samples = (samples.astype(np.float32) - 128.0) / 128.0
    samples = samples.astype(np.float32)
    if planar:  # (channels, samples)
        return samples.mean(axis=0)
    return samples.reshape(-1, channels).mean(axis=1)  # packed: interleaved channels


def write_wav(path: Path, audio: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> None:
    """16-bit PCM mono WAV (clipped to [-1, 1])."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(pcm.tobytes())
