"""A take recorded from the microphone while a person reads a sentence: it ends by itself
after a pause that follows speech, so nobody has to press a key mid-sentence.

Speech is a 20 ms block whose RMS level stands `SPEECH_OVER_ROOM_DB` over the room (as
the microphone step measured it), and at least `SPEECH_FLOOR_DBFS`. The take is cut to
its speech with `MARGIN_S` either side: forced alignment wants a little silence around
the words, not seconds of it.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
from app.audio.sources import AudioSource, Clock

BLOCK_S = SAMPLES_PER_FRAME / SAMPLE_RATE_HZ
SPEECH_OVER_ROOM_DB = 12.0
SPEECH_FLOOR_DBFS = -50.0
END_PAUSE_S = 0.9  # quiet after speech that ends the take
MIN_SPEECH_S = 0.2  # speech shorter than this (a click, a cough) does not start a take
NO_SPEECH_S = 8.0  # nobody spoke: the take ends (and is refused as silent)
MAX_TAKE_S = 15.0
MARGIN_S = 0.3
READ_SAMPLES = 4096
POLL_S = 0.01


def speech_threshold_dbfs(room_dbfs: float | None) -> float:
    return max(SPEECH_FLOOR_DBFS, (room_dbfs if room_dbfs is not None else -90.0)
               + SPEECH_OVER_ROOM_DB)


@dataclass
class PauseDetector:
    """Fed one 20 ms block level at a time; says when the take is over and where its
    speech lies."""

    threshold_dbfs: float
    no_speech_s: float = NO_SPEECH_S
    max_s: float = MAX_TAKE_S
    end_pause_s: float = END_PAUSE_S
    blocks: int = 0
    speech_blocks: int = 0
    first: int | None = None  # first and last speech block
    last: int | None = None

    def feed(self, level_dbfs: float) -> bool:
        """True once the take is over."""
        if level_dbfs >= self.threshold_dbfs:
            self.first = self.blocks if self.first is None else self.first
            self.last = self.blocks
            self.speech_blocks += 1
        self.blocks += 1
        elapsed_s = self.blocks * BLOCK_S
        if elapsed_s >= self.max_s:
            return True
        if self.speech_blocks * BLOCK_S < MIN_SPEECH_S:
            return elapsed_s >= self.no_speech_s
        return (self.blocks - 1 - self.last) * BLOCK_S >= self.end_pause_s

    def speech_span(self, samples: int) -> slice:
        """The samples to keep: the speech and a margin, or all when there was none."""
        if self.first is None:
            return slice(0, samples)
        margin = round(MARGIN_S * SAMPLE_RATE_HZ)
        return slice(max(0, self.first * SAMPLES_PER_FRAME - margin),
                     min(samples, (self.last + 1) * SAMPLES_PER_FRAME + margin))


def block_dbfs(block: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-6))


def drain(source: AudioSource) -> None:
    """Drop what the source holds: the take starts now, not when the last one ended."""
    while source.read(READ_SAMPLES)[0].size:
        pass


def record_take(source: AudioSource, clock: Clock, detector: PauseDetector,
                on_level: Callable[[float, float], None] = lambda level, seconds: None
                ) -> np.ndarray:
    """Audio from a started source until `detector` says the take is over, cut to its
    speech."""
    parts, pending = [], np.zeros(0, np.float32)
    done = False
    while not done:
        samples, _ = source.read(READ_SAMPLES)
        if not samples.size:
            clock.sleep_s(POLL_S)
            continue
        parts.append(samples)
        pending = np.concatenate([pending, samples])
        while len(pending) >= SAMPLES_PER_FRAME and not done:
            level = block_dbfs(pending[:SAMPLES_PER_FRAME])
            pending = pending[SAMPLES_PER_FRAME:]
            done = detector.feed(level)
            on_level(level, detector.blocks * BLOCK_S)
    audio = np.concatenate(parts)[:detector.blocks * SAMPLES_PER_FRAME]
    return audio[detector.speech_span(len(audio))]
