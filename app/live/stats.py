"""Latency statistics and counters of the live path, over a bounded window.

Definitions (all on the pipeline's clock):
- capture_to_frame_ms: from the capture of a block's last sample (the audio callback that
  delivered it, for a microphone; the device's own input buffering comes on top) to the
  moment its animation frame is in the mailbox.
- model_ms: the animator's `push` for one block.
- frame_to_display_ms: at each `sample()`, the age of the newest frame it shows.
- frames: frames made from captured audio; dropped: 20 ms blocks of stale audio skipped
  to catch up; late: frames whose capture_to_frame exceeded the worker's `late_ms`;
  filled: frames made from silence while the device was lost (not in the latency figures).
- fps: frames per second of clock time between the first and the latest frame;
  display_fps the same for `sample()` calls.
Percentiles are over the newest `window` values, so memory stays flat in long runs.
"""

import threading
from collections import deque

import numpy as np

WINDOW = 3000  # one minute of frames at 50 fps


class LatencyStats:
    def __init__(self, window: int = WINDOW):
        self._lock = threading.Lock()  # the worker and the render loop both record
        self._capture_to_frame_s = deque(maxlen=window)
        self._model_s = deque(maxlen=window)
        self._frame_to_display_s = deque(maxlen=window)
        self.frames = self.dropped = self.late = self.filled = self.displayed = 0
        self._first_frame_s = self._last_frame_s = None
        self._first_display_s = self._last_display_s = None

    def record_frame(self, capture_s: float, ready_s: float, model_s: float, late: bool) -> None:
        with self._lock:
            self._capture_to_frame_s.append(ready_s - capture_s)
            self._model_s.append(model_s)
            self.frames += 1
            self.late += int(late)
            if self._first_frame_s is None:
                self._first_frame_s = ready_s
            self._last_frame_s = ready_s

    def record_dropped(self, blocks: int) -> None:
        with self._lock:
            self.dropped += blocks

    def record_filled(self) -> None:
        with self._lock:
            self.filled += 1

    def record_display(self, display_s: float, frame_ready_s: float) -> None:
        with self._lock:
            self._frame_to_display_s.append(display_s - frame_ready_s)
            self.displayed += 1
            if self._first_display_s is None:
                self._first_display_s = display_s
            self._last_display_s = display_s

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "fps": _rate(self.frames, self._first_frame_s, self._last_frame_s),
                "frames": self.frames,
                "dropped": self.dropped,
                "late": self.late,
                "filled": self.filled,
                "capture_to_frame_ms": _percentiles_ms(self._capture_to_frame_s),
                "model_ms": _percentiles_ms(self._model_s),
                "frame_to_display_ms": _percentiles_ms(self._frame_to_display_s),
                "display_fps": _rate(self.displayed, self._first_display_s,
                                     self._last_display_s),
            }


def _percentiles_ms(values_s: deque) -> dict:
    if not values_s:
        return {"p50": None, "p99": None}
    p50, p99 = np.percentile(np.fromiter(values_s, np.float64), [50, 99]) * 1000.0
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}


def _rate(count: int, first_s: float | None, last_s: float | None) -> float:
    if count < 2 or first_s is None or last_s is None or last_s <= first_s:
        return 0.0
    return round((count - 1) / (last_s - first_s), 3)
