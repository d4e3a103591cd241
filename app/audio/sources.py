"""Audio sources behind one interface: the microphone, a file replayed as if it were the
microphone, and a synthetic speech-like signal.

    source.start()
    samples, capture_time_s = source.read(max_samples)   # never blocks
    source.status                                         # level, clipping, device, overruns
    source.stop()

Samples are mono float32 at 16 kHz. `capture_time_s` is the time, on the injected clock,
at which the last returned sample was captured (None when nothing was returned). Time is
always injected: a source asks its `Clock` and never reads the real clock itself, so a run
can be replayed in simulated time (app/live/clock.py holds the real clock).

File and synthetic sources are *paced*: by clock time t after `start()` they have released
exactly floor(t * 16 kHz * speed) samples, so `speed > 1` runs a soak faster than real time.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio
from app.errors import LivefaceError

SILENCE_DBFS = -120.0  # the level reported for digital silence
CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped
CLIP_HOLD_S = 0.5  # how long the clipping indicator stays lit after a clipped sample


class Clock(Protocol):
    def now_s(self) -> float: ...

    def sleep_s(self, duration_s: float) -> None: ...


class DeviceLostError(LivefaceError):
    """The capture device went away; the source keeps trying to reopen it."""


@dataclass(frozen=True)
class SourceStatus:
    level_dbfs: float = SILENCE_DBFS  # RMS level of the latest samples read
    peak: float = 0.0  # largest |sample| of the latest samples read
    clipping: bool = False  # a clipped sample within the last CLIP_HOLD_S
    device_ok: bool = True  # False while the device is lost
    overruns: int = 0  # times captured audio did not fit and was dropped
    device_name: str = ""
    finished: bool = False  # a non-looping file has played to its end


@runtime_checkable
class AudioSource(Protocol):
    def start(self) -> None: ...

    def read(self, max_samples: int) -> tuple[np.ndarray, float | None]: ...

    def stop(self) -> None: ...

    @property
    def status(self) -> SourceStatus: ...


class LevelMeter:
    """RMS level in dBFS and a held clipping indicator, updated from the reader's thread."""

    def __init__(self):
        self.level_dbfs, self.peak = SILENCE_DBFS, 0.0
        self._clipped_at_s = -math.inf
        self.clipped_samples = 0

    def update(self, samples: np.ndarray, time_s: float) -> None:
        if samples.size == 0:
            return
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
        self.level_dbfs = max(SILENCE_DBFS, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DBFS
        self.peak = float(np.max(np.abs(samples)))
        clipped = int(np.count_nonzero(np.abs(samples) >= CLIP_LEVEL))
        if clipped:
            self.clipped_samples += clipped
            self._clipped_at_s = time_s

    def clipping(self, now_s: float) -> bool:
        return now_s - self._clipped_at_s <= CLIP_HOLD_S


class PacedSource:
    """Releases a signal at `speed` times real time on the injected clock."""

    name = "paced"

    def __init__(self, clock: Clock, speed: float = 1.0):
        if not speed > 0:
            raise LivefaceError(f"playback speed must be above 0, got {speed}.")
        self.clock, self.speed = clock, speed
        self.meter = LevelMeter()
        self._start_s: float | None = None
        self._released = 0  # samples handed out since start()

    def start(self) -> None:
        self._start_s, self._released = self.clock.now_s(), 0

    def stop(self) -> None:
        self._start_s = None

    def read(self, max_samples: int) -> tuple[np.ndarray, float | None]:
        if self._start_s is None:
            raise RuntimeError("read() before start()")
        elapsed_s = self.clock.now_s() - self._start_s
        due = int(elapsed_s * SAMPLE_RATE_HZ * self.speed)
        count = max(0, min(due - self._released, max_samples))
        if count == 0:
            return np.zeros(0, np.float32), None
        samples = self.samples(self._released, count)
        self._released += count
        capture_s = self._start_s + self._released / (SAMPLE_RATE_HZ * self.speed)
        self.meter.update(samples, capture_s)
        return samples, capture_s

    def samples(self, start: int, count: int) -> np.ndarray:
        """Samples [start, start + count) of the signal."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        return False

    @property
    def status(self) -> SourceStatus:
        now_s = self.clock.now_s()
        return SourceStatus(self.meter.level_dbfs, self.meter.peak, self.meter.clipping(now_s),
                            True, 0, self.name, self.finished)


class FileSource(PacedSource):
    """A file played as if it were the microphone; silence after its end unless `loop`."""

    def __init__(self, path: Path | str | None, clock: Clock, speed: float = 1.0,
                 loop: bool = False, audio: np.ndarray | None = None):
        super().__init__(clock, speed)
        self.audio = read_audio(Path(path)) if audio is None else np.asarray(audio, np.float32)
        if self.audio.size == 0:
            raise LivefaceError("the audio to play holds no samples.")
        self.loop = loop
        self.name = str(path) if path is not None else "audio"

    @classmethod
    def from_samples(cls, audio: np.ndarray, clock: Clock, speed: float = 1.0,
                     loop: bool = False) -> "FileSource":
        """16 kHz samples already in memory, played like a file."""
        return cls(None, clock, speed, loop, audio)

    def samples(self, start: int, count: int) -> np.ndarray:
        size = len(self.audio)
        if self.loop:
            index = np.arange(start, start + count) % size
            return self.audio[index]
        out = np.zeros(count, np.float32)
        part = self.audio[start:start + count]
        out[:len(part)] = part
        return out

    @property
    def finished(self) -> bool:
        return not self.loop and self._released >= len(self.audio)


class SyntheticSource(PacedSource):
    """A speech-like signal (voiced syllables at ~4 Hz) alternating with silence.

    `pattern_s` lists (speech seconds, silence seconds); it repeats forever. The signal is
    a pure function of the sample index, so any stretch can be generated on its own and
    memory stays flat however long the source runs.
    """

    name = "synthetic"

    def __init__(self, clock: Clock, pattern_s: tuple[float, float] = (1.0, 1.0),
                 speed: float = 1.0, level: float = 0.3, pitch_hz: float = 130.0):
        super().__init__(clock, speed)
        self.speech_samples = int(pattern_s[0] * SAMPLE_RATE_HZ)
        self.period_samples = self.speech_samples + int(pattern_s[1] * SAMPLE_RATE_HZ)
        if self.period_samples <= 0:
            raise LivefaceError("a synthetic pattern needs some speech or silence.")
        self.level, self.pitch_hz = level, pitch_hz

    def is_speech(self, sample: int) -> bool:
        return sample % self.period_samples < self.speech_samples

    def samples(self, start: int, count: int) -> np.ndarray:
        return speech_like(start, count, self.speech_samples, self.period_samples,
                           self.level, self.pitch_hz)


def speech_like(start: int, count: int, speech_samples: int, period_samples: int,
                level: float, pitch_hz: float) -> np.ndarray:
    """A voiced buzz (8 harmonics, falling 1/k) under a 4 Hz syllable envelope in the first
    `speech_samples` of every period, silence in the rest."""
    n = np.arange(start, start + count, dtype=np.int64)
    within = n % period_samples
    t_s = n / SAMPLE_RATE_HZ
    # f0(t) = pitch (1 + 0.08 sin(2 pi 0.7 t)), a slow intonation; phase = 2 pi * integral f0
    phase = 2 * np.pi * pitch_hz * t_s + 0.08 * pitch_hz / 0.7 * (1 - np.cos(2 * np.pi * 0.7 * t_s))
    voice = sum(np.sin(k * phase) / k for k in range(1, 9))
    syllable = np.abs(np.sin(np.pi * 4.0 * within / SAMPLE_RATE_HZ)) ** 0.6
    gate = (within < speech_samples).astype(np.float64)
    return (level / 1.8 * voice * syllable * gate).astype(np.float32)
