"""A virtual X display for tests that open windows.

    @requires_xvfb
    def test_window(xvfb):                  # DISPLAY points at a private Xvfb for the test
        subprocess.run([...], env=os.environ)

The fixture starts `Xvfb :N -screen 0 1280x800x24` on the first free display number,
waits until it accepts connections, sets DISPLAY for the test and stops the server after.
"""

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

XVFB = shutil.which("Xvfb")
requires_xvfb = pytest.mark.skipif(
    XVFB is None, reason="needs Xvfb: apt-get install xvfb xauth (see .ci/mirror-packages)")
SCREEN = "1280x800x24"
FIRST_DISPLAY, LAST_DISPLAY = 90, 190
START_TIMEOUT_S = 10.0


def _free_display() -> int:
    """A display number with neither a lock file nor a socket."""
    for number in range(FIRST_DISPLAY, LAST_DISPLAY):
        if not (Path(f"/tmp/.X{number}-lock").exists()
                or Path(f"/tmp/.X11-unix/X{number}").exists()):
            return number
    raise RuntimeError(f"no free X display number in :{FIRST_DISPLAY}..:{LAST_DISPLAY}")


def _wait_ready(process: subprocess.Popen, number: int) -> None:
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Xvfb :{number} exited with status {process.returncode}")
        if socket.exists():
            return
        time.sleep(0.05)
    raise RuntimeError(f"Xvfb :{number} did not start within {START_TIMEOUT_S} s")


@pytest.fixture
def xvfb(monkeypatch):
    """The display name (":N") of a private Xvfb; DISPLAY is set to it for the test."""
    if XVFB is None:
        pytest.skip("needs Xvfb: apt-get install xvfb xauth (see .ci/mirror-packages)")
    for _ in range(3):  # another process may take the number between the check and start
        number = _free_display()
        process = subprocess.Popen([XVFB, f":{number}", "-screen", "0", SCREEN, "-nolisten",
                                    "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(process, number)
            break
        except RuntimeError:
            process.kill()
            process.wait()
    else:
        raise RuntimeError("could not start Xvfb")
    monkeypatch.setenv("DISPLAY", f":{number}")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    try:
        yield f":{number}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def assert_a_head_centred_in_each_half(shot: Path, size: list[int]) -> None:
    """A call window's screenshot of `size` (width, height) shows a head and shoulders
    centred in each half (two participants side by side)."""
    picture = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert list(picture.shape[1::-1]) == size
    half = picture.shape[1] // 2
    for pane in (picture[:, :half], picture[:, half:]):
        drawn = np.abs(pane - pane[2, 2]).sum(axis=-1) > 40  # not the background
        columns = np.nonzero(drawn.any(axis=0))[0]
        assert 0.05 < drawn.mean() < 0.8, drawn.mean()  # a head and shoulders in each half
        assert abs((columns[0] + columns[-1]) / 2 - half / 2) < 0.15 * half  # centred in it
