"""Clocks. This is the one module that reads the real clock; everything else is handed a
`Clock` (app/audio/sources.py) so a run can be replayed in simulated time."""

import threading
import time


class MonotonicClock:
    """Real time: seconds on the system's monotonic clock."""

    def now_s(self) -> float:
        return time.monotonic()

    def sleep_s(self, duration_s: float) -> None:
        if duration_s > 0:
            time.sleep(duration_s)


class ManualClock:
    """Simulated time that moves only when told to (`advance_s`, or `sleep_s`, which
    advances at once instead of waiting)."""

    def __init__(self, start_s: float = 0.0):
        self._now_s = start_s
        self._lock = threading.Lock()

    def now_s(self) -> float:
        return self._now_s

    def advance_s(self, duration_s: float) -> None:
        with self._lock:
            self._now_s += duration_s

    def sleep_s(self, duration_s: float) -> None:
        if duration_s > 0:
            self.advance_s(duration_s)
