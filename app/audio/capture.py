"""The microphone as an `AudioSource`: sounddevice input at the device's native rate.

    callback (PortAudio's thread)      read() (the caller's thread)
    10 ms block ──copy──▶ SampleRing ──▶ soxr ResampleStream ──▶ 16 kHz, level meter

The callback does nothing but copy the block and its arrival time into a preallocated
lock-free ring; resampling, metering and device handling run in `read`, on the reader's
thread. The capture time of a block is the clock time its callback ran, less the
resampler's delay; the device's own input buffering before the callback
(`device_latency_ms`) is not included.

When the device disappears (PortAudio ends the stream, or no audio arrives for
`STALL_S`), `status.device_ok` turns False, `read` returns nothing, and every
`retry_interval_s` it tries to open the device again, so capture resumes soon after the
device comes back. With `wait_for_device`, a system with no input device at all starts
the same way, lost, and looks for one every `RESCAN_INTERVAL_S` (a headset whose
microphone is switched on later).
"""

import math
import threading

import numpy as np
import sounddevice as sd
import soxr

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.devices import InputDevice, NoInputDevice, find_input_device, rescan_devices
from app.audio.ring import SampleRing
from app.audio.sources import Clock, LevelMeter, SourceStatus
from app.errors import LivefaceError

BLOCK_S = 0.010  # one callback per 10 ms
RING_S = 2.0  # how much unread audio the ring holds before it overruns
STALL_S = 1.0  # an open stream that delivers nothing this long counts as lost
RETRY_INTERVAL_S = 0.5
RESCAN_INTERVAL_S = 2.0  # restarting PortAudio to see new devices is not free


class StreamResampler:
    """soxr's streaming resampler: chunks in at `in_rate_hz`, mono float32 at 16 kHz out."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int = SAMPLE_RATE_HZ):
        self.in_rate_hz, self.out_rate_hz = in_rate_hz, out_rate_hz
        self._stream = None if in_rate_hz == out_rate_hz else \
            soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, dtype="float32", quality="HQ")
        self._in_samples = self._out_samples = 0

    def process(self, samples: np.ndarray) -> np.ndarray:
        samples = np.ascontiguousarray(samples, np.float32)
        if self._stream is None:
            return samples
        out = self._stream.resample_chunk(samples)
        self._in_samples += len(samples)
        self._out_samples += len(out)
        return out

    @property
    def delay_s(self) -> float:
        """How far the newest output sample lags the newest input sample: the filter's
        look-ahead, which soxr holds back (about 20 ms at HQ from 44.1 or 48 kHz)."""
        held = self._in_samples * self.out_rate_hz / self.in_rate_hz - self._out_samples
        return max(0.0, held) / self.out_rate_hz

    def reset(self) -> None:
        """Forget the past (after a gap in the input)."""
        if self._stream is not None:
            self._stream.clear()
        self._in_samples = self._out_samples = 0


class MicrophoneSource:
    def __init__(self, clock: Clock, device: str | int | None = None,
                 retry_interval_s: float = RETRY_INTERVAL_S, wait_for_device: bool = False):
        self.clock, self.device_query, self.retry_interval_s = clock, device, retry_interval_s
        self.wait_for_device = wait_for_device
        self.device: InputDevice | None = None
        self.meter = LevelMeter()
        self._ring: SampleRing | None = None
        self._resampler: StreamResampler | None = None
        self._stream: sd.InputStream | None = None
        self._lock = threading.Lock()  # open/close/read against stop(); never the callback
        self._ended = False  # set by PortAudio's finished callback
        self._overflows = 0  # callback only: PortAudio reported lost input
        self._lost = False
        self._last_try_s = -math.inf
        self._last_audio_s = 0.0
        self._running = False
        self._leftover = np.zeros(0, np.float32)  # resampled, not yet returned
        self._capture_s = 0.0

    # -- AudioSource ----------------------------------------------------------------------
    def start(self) -> None:
        """Open the device; a clear error names the devices there are."""
        try:
            self._attach(find_input_device(self.device_query))
        except NoInputDevice:
            if not self.wait_for_device:
                raise
            with self._lock:
                self._running, self._lost = True, True
                self._last_try_s = self.clock.now_s()
            return
        with self._lock:
            try:
                self._open()
            except sd.PortAudioError as err:
                raise LivefaceError(f"cannot open the microphone '{self.device.name}': {err}; "
                                    "check that it is not in use and choose another with "
                                    "--device NAME.") from None
            self._running = True

    def read(self, max_samples: int) -> tuple[np.ndarray, float | None]:
        with self._lock:
            if not self._running:
                raise RuntimeError("read() before start()")
            now_s = self.clock.now_s()
            if self._lost:
                self._retry(now_s)
            elif self._ended or self._stalled(now_s):
                self._lose(now_s)
            if self._lost:
                return np.zeros(0, np.float32), None
            return self._take(max_samples, now_s)

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._close()

    @property
    def status(self) -> SourceStatus:
        overruns = self._overflows + (self._ring.overruns if self._ring else 0)
        return SourceStatus(self.meter.level_dbfs, self.meter.peak,
                            self.meter.clipping(self.clock.now_s()), not self._lost, overruns,
                            self.device.name if self.device else "")

    @property
    def device_latency_ms(self) -> float:
        """The input buffering PortAudio reports for the open stream (0 when closed)."""
        stream = self._stream
        return 1000.0 * float(stream.latency) if stream is not None else 0.0

    # -- the callback: copy only ------------------------------------------------------------
    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        if status.input_overflow:
            self._overflows += 1
        self._ring.write(indata[:, 0], self.clock.now_s())

    def _finished(self) -> None:
        self._ended = True

    # -- device handling (reader's thread, under the lock) --------------------------------------
    def _attach(self, device: InputDevice) -> None:
        self.device = device
        self._ring = SampleRing(int(RING_S * device.default_rate_hz))
        self._resampler = StreamResampler(device.default_rate_hz)

    def _find(self) -> bool:
        """Look for a device again (none was there at start); True once one is attached."""
        rescan_devices()
        try:
            self._attach(find_input_device(self.device_query))
        except LivefaceError:
            return False
        return True

    def _open(self) -> None:
        rate_hz = self.device.default_rate_hz
        stream = sd.InputStream(device=self.device.index, samplerate=rate_hz, channels=1,
                                dtype="float32", blocksize=round(BLOCK_S * rate_hz),
                                callback=self._callback, finished_callback=self._finished)
        self._ended = False
        stream.start()
        self._stream = stream
        self._last_audio_s = self.clock.now_s()

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except sd.PortAudioError:
                pass  # the device is gone; there is nothing left to release

    def _lose(self, now_s: float) -> None:
        self._close()
        self._lost, self._last_try_s = True, now_s
        self.meter = fresh_meter(self.meter)

    def _retry(self, now_s: float) -> None:
        interval_s = self.retry_interval_s if self.device is not None else RESCAN_INTERVAL_S
        if now_s - self._last_try_s < interval_s:
            return
        self._last_try_s = now_s
        if self.device is None and not self._find():
            return
        try:
            self._open()
        except sd.PortAudioError:
            self._close()
            return
        self._ring.read(self._ring.available)  # what is left is from before the gap
        self._resampler.reset()
        self._leftover = np.zeros(0, np.float32)
        self._lost = False

    def _stalled(self, now_s: float) -> bool:
        return self._ring.available == 0 and now_s - self._last_audio_s > STALL_S

    def _take(self, max_samples: int, now_s: float) -> tuple[np.ndarray, float | None]:
        rate_hz = self.device.default_rate_hz
        wanted = max_samples - len(self._leftover)
        native, capture_s = self._ring.read(math.ceil(max(0, wanted) * rate_hz / SAMPLE_RATE_HZ))
        resampled = self._resampler.process(native)
        if native.size:  # the newest output sample was captured this much before the input's
            self._last_audio_s = now_s
            self._capture_s = capture_s - self._resampler.delay_s
        samples = np.concatenate([self._leftover, resampled])
        # soxr may give a sample more than asked for; keep it for the next read
        samples, self._leftover = samples[:max_samples], samples[max_samples:]
        if samples.size == 0:
            return samples, None
        self.meter.update(samples, self._capture_s)
        return samples, self._capture_s


def fresh_meter(meter: LevelMeter) -> LevelMeter:
    """A fresh meter (silence) that keeps the clipped-sample count."""
    fresh = LevelMeter()
    fresh.clipped_samples = meter.clipped_samples
    return fresh

