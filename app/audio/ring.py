"""A lock-free single-producer / single-consumer ring of float32 samples with timestamps.

The audio callback (the producer) only copies samples into preallocated memory and
publishes two counters; the reader (the consumer) copies them out on its own thread.
The callback takes no lock and allocates no buffer, so it can never be held
up by a slow reader.

Why this is safe without a lock: each counter has exactly one writer. The producer writes
the samples and their mark first and then advances `_marks`; the consumer reads `_marks`,
copies the samples the newest mark covers and then advances `_read`. Python assigns an int
to an attribute atomically, so each side sees either the old or the new counter, never a
torn one, and never samples that were not yet copied.

Each write also records a *mark*: (the running sample count after it, the clock time it
arrived). `read` uses the marks to tell the capture time of the last sample it returns.
When the reader falls behind and the ring is full, new samples that do not fit are
dropped and counted as an overrun (the producer cannot discard old samples itself without
touching the consumer's counter).
"""

import numpy as np


class SampleRing:
    def __init__(self, capacity_samples: int, capacity_marks: int = 512):
        if capacity_samples <= 0 or capacity_marks <= 0:
            raise ValueError("a ring needs room for at least one sample and one mark")
        self.capacity_samples = capacity_samples
        self._samples = np.zeros(capacity_samples, np.float32)
        self._mark_ends = np.zeros(capacity_marks, np.int64)
        self._mark_times_s = np.zeros(capacity_marks, np.float64)
        self._written = 0  # samples ever written (producer only)
        self._marks = 0  # marks ever written (producer only)
        self._read = 0  # samples ever read (consumer only)
        self._overrun_samples = 0  # producer only
        self._overruns = 0  # producer only

    # -- producer side ---------------------------------------------------------------------
    def write(self, samples: np.ndarray, time_s: float) -> int:
        """Copy samples in (the newest ones are dropped if they do not fit); returns how
        many were kept. `time_s`: when the last of them was captured."""
        free = self.capacity_samples - (self._written - self._read)
        count = min(len(samples), free)
        if count < len(samples):
            self._overrun_samples += len(samples) - count
            self._overruns += 1
        if count == 0:
            return 0
        start = self._written % self.capacity_samples
        first = min(count, self.capacity_samples - start)
        self._samples[start:start + first] = samples[:first]
        self._samples[:count - first] = samples[first:count]
        slot = self._marks % len(self._mark_ends)
        self._mark_ends[slot] = self._written + count
        self._mark_times_s[slot] = time_s
        self._marks += 1  # publish the mark, which covers the samples it describes
        self._written += count
        return count

    # -- consumer side ---------------------------------------------------------------------
    @property
    def available(self) -> int:
        return self._written - self._read

    def read(self, max_samples: int) -> tuple[np.ndarray, float | None]:
        """Up to `max_samples` of the oldest unread samples and the capture time of the
        last one (None when nothing was read)."""
        marks = self._marks  # only samples covered by a published mark are read
        if marks == 0:
            return np.zeros(0, np.float32), None
        published = int(self._mark_ends[(marks - 1) % len(self._mark_ends)])
        count = min(max_samples, published - self._read)
        if count <= 0:
            return np.zeros(0, np.float32), None
        start = self._read % self.capacity_samples
        first = min(count, self.capacity_samples - start)
        out = np.concatenate([self._samples[start:start + first], self._samples[:count - first]])
        end = self._read + count
        self._read = end
        return out, self._time_of(end, marks)

    def _time_of(self, sample_end: int, marks: int) -> float:
        """The arrival time of the write that held sample `sample_end - 1`; when that mark
        was already overwritten, the oldest mark still kept."""
        size = len(self._mark_ends)
        oldest = max(0, marks - size)
        # the newest marks are the likeliest; walk back from the newest
        for k in range(marks - 1, oldest - 1, -1):
            slot = k % size
            if k == oldest or self._mark_ends[(k - 1) % size] < sample_end:
                return float(self._mark_times_s[slot])
        return float(self._mark_times_s[oldest % size])

    # -- either side -----------------------------------------------------------------------
    @property
    def overruns(self) -> int:
        """Writes that did not fit whole."""
        return self._overruns

    @property
    def overrun_samples(self) -> int:
        return self._overrun_samples
