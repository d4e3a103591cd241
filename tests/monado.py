"""A real OpenXR runtime for tests: Monado with its simulated HMD, run from the Debian
trixie chroot that `.ci/monado setup` builds (this host's Debian does not package Monado).

    @requires_monado
    def test_something(monado):              # monado-service runs for the test
        done = monado.run([sys.executable, "-c", "import xr; ..."])
        assert done.returncode == 0, done.stderr

    def test_a_long_run(monado):
        client = monado.start_client([*LIVEFACE, "run", "--stand-in"])
        client.wait_for("session focused")   # what the client prints, not a fixed sleep
        client.interrupt()                   # SIGINT to its process id
        done = client.finish()

Code that talks to the runtime runs inside the chroot (`.ci/monado exec`), where this
repository, the virtual environment running the tests (wherever it lives) and the Python
under it sit at their own paths. Each use gets a fresh runtime directory (the service's
socket, pid and log) under /tmp, which the chroot shares. Clients start as `LIVEFACE`: the
interpreter that runs the tests, with this checkout's package.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "monado"
ROOT = Path(os.environ.get("LIVEFACE_MONADO_ROOT", "/var/cache/liveface/monado-root"))
SETUP_HINT = "run `.ci/monado setup` as root (.ci/run does)"
# `liveface` as the tests' own interpreter runs it: no entry point of any one venv needed.
LIVEFACE = (sys.executable, "-m", "app.cli")
# Generous: a client imports torch and builds its model first, on a machine that may be busy.
RUN_TIMEOUT_S = 300.0
WAIT_TIMEOUT_S = 240.0  # for a line a started client prints


def monado_missing() -> str | None:
    """Why Monado cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return f"needs root to enter the Monado chroot; {SETUP_HINT}"
    if not (ROOT / ".liveface-ready").exists():
        return f"no Monado chroot at {ROOT}; {SETUP_HINT}"
    return None


requires_monado = pytest.mark.skipif(monado_missing() is not None,
                                     reason=monado_missing() or "")


def run_in_chroot(command: Sequence[str], runtime_dir: Path,
                  timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Runs `command` inside the chroot with this environment and cwd, as a client of the
    service whose socket is in `runtime_dir`; output is captured as text."""
    return subprocess.run(["bash", str(SCRIPT), "exec", "--", *command], env=_env(runtime_dir),
                          cwd=REPO, capture_output=True, text=True, timeout=timeout_s)


class Client:
    """A client started in the chroot and left running. `.ci/monado exec` execs all the way
    down (unshare, chroot, env), so the process id is the command's own: signals go to it
    by id, never by a name pattern. Its stderr is read as it comes, so tests wait on what
    it says rather than on fixed sleeps."""

    def __init__(self, command: Sequence[str], runtime_dir: Path):
        self.process = subprocess.Popen(["bash", str(SCRIPT), "exec", "--", *command],
                                        env=_env(runtime_dir), cwd=REPO,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._stdout: list[str] = []
        self._readers = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stderr(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float = WAIT_TIMEOUT_S, after: int = 0) -> int:
        """Until a line of stderr (from line `after` on) contains `text`; that line's index.
        Fails at once if the client ends first."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for index in range(after, len(self.lines)):
                    if text in self.lines[index]:
                        return index
                if self.process.poll() is not None and not self._reading():
                    raise AssertionError(f"the client ended before printing {text!r}:\n"
                                         + "".join(self.lines)[-3000:])
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    raise AssertionError(f"no {text!r} from the client within {timeout_s} s:\n"
                                         + "".join(self.lines)[-3000:])
                self._changed.wait(min(left_s, 0.5))

    def interrupt(self) -> None:
        """Ctrl+C, as a terminal sends it, to the client's own process."""
        os.kill(self.pid, signal.SIGINT)

    def finish(self, timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Wait for the client to end by itself (killed by id if it overruns)."""
        try:
            self.process.wait(timeout=timeout_s)
        finally:
            self.kill()
        for reader in self._readers:
            reader.join(timeout=10)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode,
                                           "".join(self._stdout), self.stderr)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def _reading(self) -> bool:
        return self._readers[0].is_alive()

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._stdout.append(line)


def _env(runtime_dir: Path) -> dict[str, str]:
    # LIVEFACE_PYTHON: bind in the Python that runs the tests, wherever it is installed.
    return dict(os.environ, LIVEFACE_MONADO_RUNTIME_DIR=str(runtime_dir),
                LIVEFACE_PYTHON=sys.executable)


class MonadoService:
    """monado-service with the null compositor, its socket in `runtime_dir`."""

    def __init__(self, runtime_dir: Path):
        self.runtime_dir = runtime_dir

    def start(self) -> None:
        done = subprocess.run(["bash", str(SCRIPT), "start"], env=_env(self.runtime_dir),
                              capture_output=True, text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"monado-service did not start: {done.stderr.strip()}")

    def stop(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=_env(self.runtime_dir),
                       capture_output=True, timeout=30, check=True)

    def run(self, command: Sequence[str],
            timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
        return run_in_chroot(command, self.runtime_dir, timeout_s)

    def start_client(self, command: Sequence[str]) -> Client:
        return Client(command, self.runtime_dir)

    def log(self) -> str:
        """What the service has printed so far (for assertion messages)."""
        path = self.runtime_dir / "monado.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def monado_service() -> Iterator[MonadoService]:
    """A running monado-service in a fresh runtime directory; stopped and removed after."""
    # Under /tmp whatever TMPDIR says: it is the directory the chroot shares with the host.
    runtime_dir = Path(tempfile.mkdtemp(prefix="lf-xr-", dir="/tmp"))
    service = MonadoService(runtime_dir)
    try:
        service.start()
        yield service
    finally:
        service.stop()
        shutil.rmtree(runtime_dir, ignore_errors=True)


@pytest.fixture
def monado() -> Iterator[MonadoService]:
    """A running Monado for the test; `monado.run([...])` runs a client next to it."""
    reason = monado_missing()
    if reason:
        pytest.skip(reason)
    with monado_service() as service:
        yield service
