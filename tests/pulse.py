"""A virtual microphone for tests: a user-space PulseAudio server whose only source is
`module-pipe-source` reading 16 kHz s16le from a FIFO, and a writer thread that feeds the
FIFO at real time (the writer is the microphone's clock: no writer, no audio).

    def test_something(pulse):               # the fixture
        pulse.writer.play(clip)               # queued after what is already playing
        ... MicrophoneSource(clock, "pulse") captures it through sounddevice ...
        pulse.unload_mic(); pulse.load_mic()  # the device disappears and comes back

The server runs in a private directory with its own socket; the test process reaches it
through PULSE_SERVER, and PortAudio is restarted so that its ALSA "pulse" device appears.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.audio.contract import SAMPLE_RATE_HZ

PULSEAUDIO = shutil.which("pulseaudio")
PACTL = shutil.which("pactl")
requires_pulse = pytest.mark.skipif(
    PULSEAUDIO is None or PACTL is None,
    reason="needs a PulseAudio server: apt-get install pulseaudio pulseaudio-utils "
           "libasound2-plugins libportaudio2 (see .ci/pulse-packages)")
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CHUNK_S = 0.010


class PacedWriter(threading.Thread):
    """Writes queued audio, then silence, into the FIFO at real time in 10 ms chunks;
    reopens the FIFO when the source is unloaded and loaded again."""

    def __init__(self, fifo: Path):
        super().__init__(name="virtual-mic-writer", daemon=True)
        self.fifo = fifo
        self._queue: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._written: list[np.ndarray] = []  # what was played, not the silence around it
        self.play_started_s: list[float] = []  # monotonic time each queued clip began
        self.play_ended_s: list[float] = []
        self._fd: int | None = None

    def play(self, audio: np.ndarray) -> None:
        with self._lock:
            self._queue.append(np.asarray(audio, np.float32))

    def written(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._written) if self._written else np.zeros(0, np.float32)

    def idle(self) -> bool:
        with self._lock:
            return not self._queue and len(self.play_ended_s) == len(self.play_started_s)

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(5)
        if self._fd is not None:
            os.close(self._fd)

    def run(self) -> None:
        chunk = int(CHUNK_S * SAMPLE_RATE_HZ)
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
                if len(self.play_started_s) == len(self.play_ended_s):
                    self.play_started_s.append(time.monotonic())
                take = clip[:size - filled]
                out[filled:filled + len(take)] = take
                self._written.append(take)
                filled += len(take)
                if len(take) == len(clip):
                    self._queue.pop(0)
                    self.play_ended_s.append(time.monotonic())
                else:
                    self._queue[0] = clip[len(take):]
        return out

    def _send(self, samples: np.ndarray) -> None:
        data = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        if self._fd is None:
            try:
                self._fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return  # no source reading the FIFO now: the audio falls on the floor
        try:
            os.write(self._fd, data)
        except BlockingIOError:
            pass  # the server is not reading; a microphone would drop it too
        except OSError:  # the source went away: reopen the FIFO once it is back
            os.close(self._fd)
            self._fd = None


class PulseServer:
    def __init__(self, directory: Path):
        self.directory = directory
        self.socket = directory / "native"
        self.fifo = directory / "mic.fifo"
        self.log = directory / "pulseaudio.log"
        self.env = dict(os.environ, HOME=str(directory), XDG_RUNTIME_DIR=str(directory),
                        PULSE_RUNTIME_PATH=str(directory), PULSE_SERVER=f"unix:{self.socket}")
        self.process: subprocess.Popen | None = None
        self.writer = PacedWriter(self.fifo)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [PULSEAUDIO, "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=no", "--system=no", "--log-level=warning",
             "-L", f"module-native-protocol-unix auth-anonymous=1 socket={self.socket}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        deadline = time.monotonic() + 10
        while not self._pactl_ok("info"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PulseAudio did not start: "
                                   + self.log.read_text(errors="replace")[-2000:])
            time.sleep(0.05)
        self.load_mic()
        self.writer.start()

    def load_mic(self) -> float:
        """Add the virtual microphone; returns the monotonic time it is there."""
        self._pactl("load-module", "module-pipe-source", "source_name=virtual_mic",
                    f"file={self.fifo}", "format=s16le", f"rate={SAMPLE_RATE_HZ}", "channels=1")
        return time.monotonic()

    def unload_mic(self) -> None:
        self._pactl("unload-module", "module-pipe-source")

    def stop(self) -> None:
        try:
            self.writer.stop()
        finally:
            if self.process is not None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)

    def _pactl(self, *args: str) -> str:
        done = subprocess.run([PACTL, *args], env=self.env, capture_output=True, text=True,
                              timeout=10)
        if done.returncode:
            raise RuntimeError(f"pactl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def _pactl_ok(self, *args: str) -> bool:
        try:
            self._pactl(*args)
            return True
        except (RuntimeError, subprocess.TimeoutExpired):
            return False


@pytest.fixture
def pulse(monkeypatch):
    """A running virtual microphone; PortAudio rescanned so "pulse" is an input device."""
    from app.audio.devices import rescan_devices

    directory = Path(tempfile.mkdtemp(prefix="lf-pulse-"))  # short: a socket path is <108 B
    server = PulseServer(directory)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    monkeypatch.setenv("PULSE_SERVER", f"unix:{server.socket}")
    monkeypatch.setenv("PULSE_RUNTIME_PATH", str(directory))
    rescan_devices()
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        rescan_devices()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def speech_clip() -> np.ndarray:
    """A few seconds of real English speech (Debian pocketsphinx-testdata), or espeak-ng's
    when that is missing."""
    from app.audio.io import read_audio

    wavs = sorted(LIBRIVOX.glob("*.wav"))
    if wavs:
        return read_audio(wavs[0])[:4 * SAMPLE_RATE_HZ]
    from app.data.speech import get_engine

    try:
        clip = get_engine("espeak-ng").synthesize(
            "The quick brown fox jumps over the lazy dog, and then it runs away.", "en")
    except Exception as err:  # noqa: BLE001 - no speech at all: the test cannot run
        pytest.skip(f"no speech for the virtual microphone: {err}")
    return np.asarray(clip.audio, np.float32)
