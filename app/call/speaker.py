"""The peer's voice through the default output device, at the playout clock's moment.

Best effort, like the mirror's file playback: no output device, or one that refuses the
stream, is one notice and a silent call. Received voice is kept by media time in a ring
(RING_S). The event loop steers: each display tick tells the speaker which media sample
is heard now (`steer`). The PortAudio callback only copies: it plays on from where it was
(the device's own clock) and jumps to the steered position, counted, when the two have
drifted more than RESYNC_S apart, so what comes out of the speaker is the moment the face
on screen belongs to: it writes now what is heard `latency_s` (the device's reported
output latency) later, and the call adds that latency to the playout delay so the voice
for that moment has arrived.
"""

import threading

import numpy as np

from app.errors import notice

RATE_HZ = 48_000  # Opus decodes at 48 kHz: played as it comes, no resampling
RING_S = 4.0
RESYNC_S = 0.04


class PeerSpeaker:
    def __init__(self, clock):
        self.clock = clock
        self._ring = np.zeros(int(RING_S * RATE_HZ), np.float32)
        self._lock = threading.Lock()
        self._end = 0  # media samples received so far reach here
        self._steer: tuple[int, float] | None = None  # (media sample heard, at clock s)
        self._read: int | None = None  # the next media sample the device plays
        self.latency_s = 0.0
        self.resyncs = 0
        self._stream = None

    def start(self) -> bool:
        """Open the default output; False (and a notice) when there is no way to play."""
        try:
            import sounddevice as sd

            if sd.default.device[1] is None or sd.default.device[1] < 0:
                raise RuntimeError("no audio output device")
            self._stream = sd.OutputStream(samplerate=RATE_HZ, channels=1,
                                           dtype="float32", callback=self.callback)
            self.latency_s = float(self._stream.latency)
            self._stream.start()
        except Exception as err:  # noqa: BLE001 - any PortAudio refusal means "silent call"
            self._stream = None
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            notice(f"the peer's voice is not played ({reason}); their face still shows.")
            return False
        return True

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None

    def write(self, media_s: float, samples: np.ndarray) -> None:
        """Received voice (48 kHz mono) starting at `media_s`."""
        start = round(media_s * RATE_HZ)
        if start < 0:
            samples, start = samples[-start:], 0
        size = len(self._ring)
        if start + len(samples) <= self._end - size:
            return  # older than anything the ring still holds
        samples = samples[-size:]
        index = (start + np.arange(len(samples))) % size
        with self._lock:
            self._ring[index] = samples
            self._end = max(self._end, start + len(samples))

    def steer(self, heard_s: float) -> None:
        """The media time heard now, by the playout clock (the display tick's)."""
        self._steer = (round(heard_s * RATE_HZ), self.clock.now_s())

    def callback(self, out: np.ndarray, frames: int, _time=None, _status=None) -> None:
        steer = self._steer
        if steer is None:
            out[:] = 0.0
            return
        wanted = steer[0] + round((self.clock.now_s() - steer[1] + self.latency_s)
                                  * RATE_HZ)
        if self._read is None or abs(self._read - wanted) > RESYNC_S * RATE_HZ:
            self.resyncs += self._read is not None
            self._read = wanted
        out[:, 0] = self._samples(self._read, frames)
        self._read += frames

    def _samples(self, start: int, count: int) -> np.ndarray:
        """Media samples [start, start + count): silence where nothing (or nothing still
        in the ring) arrived."""
        size = len(self._ring)
        with self._lock:
            positions = np.arange(start, start + count)
            valid = (positions >= 0) & (positions < self._end) & (positions >= self._end - size)
            return np.where(valid, self._ring[positions % size], 0.0).astype(np.float32)
