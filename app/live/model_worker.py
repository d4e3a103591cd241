"""The model worker: 20 ms blocks of captured audio in, animation frames out, at 50 fps on
the audio clock.

Each step gathers whatever the source has, and animates the oldest whole block. Every
block carries the capture time of its last sample, interpolated between the times the
source reported, so a frame's latency is measured from the speaker, not from the worker.

Catching up: a waiting block whose audio is older than `max_lag_ms` (the animator was
slow, or the machine stalled) is stale; stale blocks are dropped and counted, down to
the newest whole block, so the face never drifts behind the voice. Staleness is judged by
capture time, not by how many blocks wait, so a source running faster than real time is
not mistaken for a slow model.
While the device is lost the worker animates silence at 50 fps, so the face comes to rest
instead of freezing mid-word. A measured gaze goes into the model as its gaze condition; a
measured eyelid closure (an eye camera) replaces the blinks the model makes up.

Each frame also goes to the `sinks` (streams to other programs, app/outputs/), right after
it is published; a sink must be quick and must not raise.
"""

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
from app.audio.sources import AudioSource, Clock, DeviceLostError
from app.avatar.rig import RIG_INDEX
from app.live.animators import AnimatorLike
from app.live.mailbox import FRAME_PERIOD_S, FrameMailbox, LiveFrame
from app.live.stats import LatencyStats
from app.live.worker import Worker

BLINK_INDICES = [RIG_INDEX["eyeBlinkLeft"], RIG_INDEX["eyeBlinkRight"]]


@dataclass(frozen=True)
class WorkerConfig:
    max_lag_ms: float = 60.0  # a waiting block captured longer ago than this is stale
    late_ms: float = 100.0  # a frame later than this after its audio counts as late
    poll_s: float = 0.002  # how long to wait when no whole block is there yet
    read_samples: int = 4 * SAMPLE_RATE_HZ  # the most one read asks of the source


class PendingAudio:
    """Samples read but not yet animated (bounded), with the capture-time marks of the
    reads that brought them."""

    def __init__(self, capacity_samples: int):
        self._buffer = np.zeros(capacity_samples, np.float32)
        self.size = 0
        self.start = 0  # running index of the first pending sample
        self._marks: deque[tuple[int, float]] = deque(maxlen=1024)  # (end index, capture s)

    def append(self, samples: np.ndarray, capture_s: float) -> None:
        """Add samples; when they do not fit, the oldest pending ones make room."""
        capacity = len(self._buffer)
        if len(samples) >= capacity:
            self.start += self.size + len(samples) - capacity
            self.size, samples = 0, samples[-capacity:]
        elif self.size + len(samples) > capacity:
            self.discard(self.size + len(samples) - capacity)
        self._buffer[self.size:self.size + len(samples)] = samples
        self.size += len(samples)
        self._marks.append((self.start + self.size, capture_s))

    @property
    def whole_blocks(self) -> int:
        return self.size // SAMPLES_PER_FRAME

    def discard(self, count: int) -> None:
        self._buffer[:self.size - count] = self._buffer[count:self.size]
        self.size -= count
        self.start += count

    def pop_block(self) -> tuple[np.ndarray, float]:
        block = self._buffer[:SAMPLES_PER_FRAME].copy()
        capture_s = self.capture_time(self.start + SAMPLES_PER_FRAME)
        self.discard(SAMPLES_PER_FRAME)
        while len(self._marks) > 1 and self._marks[1][0] <= self.start:
            self._marks.popleft()  # keep one mark at or before the start to interpolate from
        return block, capture_s

    def capture_time(self, end: int) -> float:
        """When sample `end - 1` was captured: interpolated between the two reads around it."""
        previous = None
        for mark_end, mark_s in self._marks:
            if mark_end >= end:
                if previous is None or mark_end == previous[0]:
                    return mark_s - (mark_end - end) / SAMPLE_RATE_HZ
                fraction = (end - previous[0]) / (mark_end - previous[0])
                return previous[1] + fraction * (mark_s - previous[1])
            previous = (mark_end, mark_s)
        return self._marks[-1][1]


class ModelWorker(Worker):
    name = "liveface-model"

    def __init__(self, source: AudioSource, animator: AnimatorLike, clock: Clock,
                 mailbox: FrameMailbox, stats: LatencyStats,
                 config: WorkerConfig | None = None,
                 sinks: Sequence[Callable[[LiveFrame], None]] = ()):
        super().__init__()
        self.source, self.animator, self.clock, self.sinks = source, animator, clock, sinks
        self.mailbox, self.stats, self.config = mailbox, stats, config or WorkerConfig()
        self.pending = PendingAudio(4 * SAMPLES_PER_FRAME + self.config.read_samples)
        self.muted = False
        self.emotion = (0, 0.0)  # (index into EMOTIONS, intensity), replaced whole
        self.gaze: tuple[float, float] | None = None  # measured (yaw, pitch) rad, replaced whole
        self.eyelids: float | None = None  # measured closure, 0 open .. 1 shut; None: the
        # model's own blinks
        self.read_failed = False  # the source raised DeviceLostError on its latest read
        self._frames = 0
        self._last_frame_s = 0.0

    def startup(self) -> None:
        self.source.start()
        self._last_frame_s = self.clock.now_s()

    def step(self) -> None:
        self._gather()
        if self.pending.whole_blocks == 0:
            if self.device_lost and self.clock.now_s() - self._last_frame_s >= FRAME_PERIOD_S:
                self._animate(np.zeros(SAMPLES_PER_FRAME, np.float32), None)
            else:
                self.clock.sleep_s(self.config.poll_s)
            return
        self._drop_stale()
        self._animate(*self.pending.pop_block())

    def shutdown(self) -> None:
        self.source.stop()

    @property
    def device_lost(self) -> bool:
        return self.read_failed or not self.source.status.device_ok

    def _drop_stale(self) -> None:
        oldest_ok_s = self.clock.now_s() - self.config.max_lag_ms / 1000.0
        stale = 0
        while (stale < self.pending.whole_blocks - 1 and self.pending.capture_time(
                self.pending.start + (stale + 1) * SAMPLES_PER_FRAME) < oldest_ok_s):
            stale += 1
        if stale:
            self.pending.discard(stale * SAMPLES_PER_FRAME)
            self.stats.record_dropped(stale)

    def _gather(self) -> None:
        """Read everything the source has now, so its backlog is ours to judge."""
        for _ in range(8):  # bounded: a source faster than the worker cannot trap it here
            try:
                samples, capture_s = self.source.read(self.config.read_samples)
            except DeviceLostError:
                self.read_failed = True
                return
            self.read_failed = False
            if capture_s is not None and samples.size:
                self.pending.append(samples, capture_s)
            if samples.size < self.config.read_samples:
                return  # that was all there was

    def _animate(self, block: np.ndarray, capture_s: float | None) -> None:
        """One frame from one block; `capture_s` None for silence made up while the
        device is lost (counted as filled, kept out of the latency figures)."""
        if self.muted:
            block[:] = 0.0
        emotion, intensity = self.emotion
        started_s = self.clock.now_s()
        frame = self.animator.push(torch.from_numpy(block), emotion=emotion, intensity=intensity,
                                   gaze=self.gaze)
        rig, wrinkle, flush = (_one_frame(x) for x in (frame.rig, frame.wrinkle, frame.flush))
        closure = self.eyelids
        if closure is not None:  # the user's own blinks, measured, replace the model's
            rig[BLINK_INDICES] = closure
        ready_s = self.clock.now_s()
        if capture_s is not None:  # a model with look-ahead shows an earlier block's face
            capture_s -= getattr(self.animator, "lookahead_frames", 0) * FRAME_PERIOD_S
        live = LiveFrame(self._frames, rig, wrinkle, flush,
                         ready_s if capture_s is None else capture_s, ready_s)
        self.mailbox.publish(live)
        for sink in self.sinks:
            sink(live)
        if capture_s is None:
            self.stats.record_filled()
        else:
            late = (ready_s - capture_s) * 1000.0 > self.config.late_ms
            self.stats.record_frame(capture_s, ready_s, ready_s - started_s, late)
        self._frames += 1
        self._last_frame_s = ready_s


def _one_frame(values) -> np.ndarray:
    """A frame's (1, 1, n) tensor or array as a float32 numpy vector (n,)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float32).numpy()
    return np.asarray(values, np.float32).reshape(-1).copy()
