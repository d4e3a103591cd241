"""Clocks. This is the one module that reads the real clock; everything else is handed a
`Clock` (app/audio/sources.py) so a run can be replayed in simulated time."""

import datetime
import threading
import time


class MonotonicClock:
    """Real time: seconds on the system's monotonic clock."""

    def now_s(self) -> float:
        return time.monotonic()

    def sleep_s(self, duration_s: float) -> None:
        if duration_s > 0:
            time.sleep(duration_s)


def time_of_day_s() -> float:
    """Seconds since local midnight on the wall clock (for timecodes, never for timing)."""
    now = datetime.datetime.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return (now - midnight).total_seconds()


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
