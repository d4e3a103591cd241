"""A real OpenXR runtime for tests: Monado with its simulated HMD, run from the Debian
trixie chroot that `.ci/monado setup` builds (this host's Debian does not package Monado).

    @requires_monado
    def test_something(monado):              # monado-service runs for the test
        done = monado.run([sys.executable, "-c", "import xr; ..."])
        assert done.returncode == 0, done.stderr

Code that talks to the runtime runs inside the chroot (`.ci/monado exec`), where this
repository, its venv and the Python under it sit at their own paths. Each use gets a fresh
runtime directory (the service's socket, pid and log) under /tmp, which the chroot shares.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "monado"
ROOT = Path(os.environ.get("LIVEFACE_MONADO_ROOT", "/var/cache/liveface/monado-root"))
SETUP_HINT = "run `.ci/monado setup` as root (.ci/run does)"
RUN_TIMEOUT_S = 120.0


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
                          capture_output=True, text=True, timeout=timeout_s)


def start_in_chroot(command: Sequence[str], runtime_dir: Path) -> subprocess.Popen:
    """Like `run_in_chroot`, without waiting: the caller communicates with the process."""
    return subprocess.Popen(["bash", str(SCRIPT), "exec", "--", *command],
                            env=_env(runtime_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


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

    def start_client(self, command: Sequence[str]) -> subprocess.Popen:
        return start_in_chroot(command, self.runtime_dir)

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
