"""A virtual microphone on the PulseAudio server: prepared takes played into it as if a
person read them, for the wizard's unattended run (`liveface calibrate --auto`).

    with VirtualMicrophone() as mic:          # a pipe source, made the default for us
        source = MicrophoneSource(clock, mic.device)
        mic.play(take_audio)                  # queued; silence plays in between

PulseAudio's `module-pipe-source` reads 16 kHz s16le from a FIFO; a writer thread feeds
it at real time, 10 ms at a time, silence when nothing is queued (the writer is the
microphone's clock). The source is chosen for this process only, through PULSE_SOURCE,
which the ALSA "pulse" device honours; the user's default source is left alone. What is
recorded goes the whole real way: PulseAudio, ALSA, PortAudio, `MicrophoneSource`.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.errors import LivefaceError

CHUNK_S = 0.010
PULSE_DEVICE = "pulse"  # PortAudio's ALSA device that records from PULSE_SOURCE


class PacedWriter(threading.Thread):
    """Writes queued audio, then silence, into the FIFO at real time in 10 ms chunks."""

    def __init__(self, fifo: Path):
        super().__init__(name="virtual-mic-writer", daemon=True)
        self.fifo = fifo
        self._queue: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._fd: int | None = None

    def play(self, audio: np.ndarray) -> None:
        with self._lock:
            self._queue.append(np.asarray(audio, np.float32))

    def playing(self) -> bool:
        with self._lock:
            return bool(self._queue)

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(5)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def run(self) -> None:
        chunk = round(CHUNK_S * SAMPLE_RATE_HZ)
        start_s, sent = time.monotonic(), 0
        while not self._stopping.is_set():
            due = int((time.monotonic() - start_s) * SAMPLE_RATE_HZ)
            while sent + chunk <= due:
                self._send(self._next_chunk(chunk))
                sent += chunk
            time.sleep(CHUNK_S / 2)

    def _next_chunk(self, size: int) -> np.ndarray:
        out = np.zeros(size, np.float32)
        filled = 0
        with self._lock:
            while filled < size and self._queue:
                clip = self._queue[0]
                part = clip[:size - filled]
                out[filled:filled + len(part)] = part
                filled += len(part)
                if len(part) == len(clip):
                    self._queue.pop(0)
                else:
                    self._queue[0] = clip[len(part):]
        return out

    def _send(self, samples: np.ndarray) -> None:
        data = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        if self._fd is None:
            try:
                self._fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return  # the source is not reading yet: the chunk falls on the floor
        try:
            os.write(self._fd, data)
        except BlockingIOError:
            pass  # the server is not reading; a microphone would drop it too


class VirtualMicrophone:
    """A pipe source on the running PulseAudio server, for this process; see the module."""

    device = PULSE_DEVICE

    def __init__(self):
        self.name = f"liveface_takes_{os.getpid()}"
        self._folder: Path | None = None
        self._module: str | None = None
        self._writer: PacedWriter | None = None
        self._previous_source: str | None = None

    def __enter__(self) -> Self:
        if shutil.which("pactl") is None:
            raise LivefaceError("playing takes through a virtual microphone needs PulseAudio "
                                "(or PipeWire's pulse server) and pactl: apt-get install "
                                "pulseaudio-utils.")
        self._folder = Path(tempfile.mkdtemp(prefix="lf-takes-"))
        fifo = self._folder / "mic.fifo"
        self._module = _pactl("load-module", "module-pipe-source", f"source_name={self.name}",
                              f"file={fifo}", "format=s16le", f"rate={SAMPLE_RATE_HZ}",
                              "channels=1").strip()
        self._previous_source = os.environ.get("PULSE_SOURCE")
        os.environ["PULSE_SOURCE"] = self.name
        self._writer = PacedWriter(fifo)
        self._writer.start()
        return self

    def play(self, audio: np.ndarray) -> None:
        """Queue 16 kHz mono audio after what is already playing."""
        self._writer.play(audio)

    def playing(self) -> bool:
        return self._writer.playing()

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.stop()
        if self._previous_source is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = self._previous_source
        if self._module:
            try:
                _pactl("unload-module", self._module)
            except LivefaceError:
                pass  # the server went away, and the source with it
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def _pactl(*args: str) -> str:
    try:
        done = subprocess.run(["pactl", *args], check=False, capture_output=True, text=True,
                              timeout=10)
    except subprocess.TimeoutExpired:
        raise LivefaceError("PulseAudio did not answer pactl within 10 s.") from None
    if done.returncode:
        raise LivefaceError(f"PulseAudio refused `pactl {' '.join(args)}`: "
                            f"{done.stderr.strip() or done.stdout.strip()}; is a PulseAudio "
                            "(or PipeWire pulse) server running?")
    return done.stdout
