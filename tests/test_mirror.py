"""The desktop mirror: its camera and figures as units, then the real command in a window
on a private Xvfb display (marked `xvfb`), with a speech file as the microphone."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pythonosc.udp_client import SimpleUDPClient

from app.config import MirrorConfig
from app.live.stats import LatencyStats
from app.mirror.app import (SOFTWARE_PIXEL_BUDGET, FrameCounter, mirror_stats, msaa_samples,
                            render_scale)
from app.mirror.orbit import MAX_ZOOM, MIN_ZOOM, OrbitCamera
from app.render.camera import portrait_view
from app.resources import asset_path
from tests.xvfb import requires_xvfb, xvfb  # noqa: F401 - the fixture is used by name
from tests.test_outputs import Receiver, free_udp_port

REPO = Path(__file__).resolve().parent.parent
SPEECH = asset_path("audio", "sample.wav")
STUDENT = asset_path("models", "liveface-student.safetensors")
BOUNDS = (np.array([-0.09, 0.6, -0.1]), np.array([0.09, 0.85, 0.1]))
RUN_TIMEOUT_S = 180


# ---- units -------------------------------------------------------------------------------

def test_orbit_at_rest_is_the_portrait_view():
    view = OrbitCamera().view(BOUNDS, 960, 720)
    portrait = portrait_view(BOUNDS, 960, 720)
    np.testing.assert_allclose(view.view, portrait.view, atol=1e-5)
    assert view.eye_position[2] > BOUNDS[1][2]  # in front of the face, facing the user


def test_orbit_drag_zoom_and_reset():
    camera = OrbitCamera()
    rest = camera.view(BOUNDS, 960, 720).eye_position
    camera.drag(-100, 0)  # drag left: the camera swings to the avatar's left (+X)
    assert camera.view(BOUNDS, 960, 720).eye_position[0] > rest[0] + 0.05
    camera.drag(0, 10_000)  # pitch stops short of the pole
    assert camera.pitch_rad < np.pi / 2
    for _ in range(100):
        camera.scroll(1)
    assert camera.zoom == pytest.approx(MIN_ZOOM)
    for _ in range(200):
        camera.scroll(-1)
    assert camera.zoom == pytest.approx(MAX_ZOOM)
    camera.reset()
    np.testing.assert_allclose(camera.view(BOUNDS, 960, 720).eye_position, rest, atol=1e-6)


class _FakeContext:
    def __init__(self, renderer: str, max_samples: int = 8):
        self.info = {"GL_RENDERER": renderer, "GL_MAX_SAMPLES": max_samples}


def test_software_opengl_draws_fewer_pixels_and_no_msaa():
    llvmpipe, gpu = _FakeContext("llvmpipe (LLVM 15.0.6, 256 bits)"), _FakeContext("NVIDIA H100")
    assert msaa_samples(llvmpipe, 4) == 0
    assert msaa_samples(gpu, 4) == 4 and msaa_samples(_FakeContext("x", 2), 4) == 2
    assert render_scale(gpu, 0.0, (960, 720)) == 1.0
    scale = render_scale(llvmpipe, 0.0, (960, 720))
    assert 960 * 720 * scale ** 2 == pytest.approx(SOFTWARE_PIXEL_BUDGET)
    assert render_scale(llvmpipe, 0.0, (320, 240)) == 1.0
    assert render_scale(llvmpipe, 0.5, (960, 720)) == 0.5


def test_stats_hold_the_issue_keys():
    live = LatencyStats()
    live.record_frame(capture_s=1.0, ready_s=1.004, model_s=0.002, late=False)
    live.record_frame(capture_s=1.02, ready_s=1.025, model_s=0.003, late=False)
    live.record_display(1.03, 1.025)
    frames = FrameCounter()
    for t_s in (0.0, 0.02, 0.04):
        frames.tick(t_s)

    class Pipeline:
        stats = live

    stats = mirror_stats(Pipeline(), frames, {"animator": "stand-in"})
    for key in ("fps", "frames", "dropped", "capture_to_frame_ms", "model_ms",
                "frame_to_display_ms", "states"):
        assert key in stats
    assert stats["fps"] == pytest.approx(50.0) and stats["frames"] == 3
    assert stats["model_frames"] == 2 and stats["states"] == []
    assert stats["capture_to_frame_ms"]["p50"] == pytest.approx(4.5)
    json.dumps(stats)


def test_default_window_size():
    assert (MirrorConfig().width, MirrorConfig().height) == (960, 720)


# ---- the command -----------------------------------------------------------------------------

def _liveface(*args: str, env: dict | None = None, timeout_s: float = RUN_TIMEOUT_S):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout_s)


def test_no_display_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = _liveface("mirror", "--audio", str(SPEECH), "--stand-in", "--duration", "1",
                       env=env)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("liveface: error")]
    assert len(errors) == 1 and "xvfb-run" in errors[0] and "liveface render" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_bad_osc_address_is_a_clear_error():
    result = _liveface("mirror", "--audio", str(SPEECH), "--stand-in", "--osc", "localhost:x")
    assert result.returncode == 2 and "HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_audio_file_is_a_clear_error(tmp_path):
    result = _liveface("mirror", "--audio", str(tmp_path / "nothing.wav"), "--stand-in")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def _check_run(tmp_path: Path, *extra: str, duration_s: float = 5.0) -> dict:
    stats_path, shot = tmp_path / "s.json", tmp_path / "m.png"
    result = _liveface("mirror", "--audio", str(SPEECH), "--duration", str(duration_s),
                       "--stats-json", str(stats_path), "--screenshot", str(shot), *extra,
                       env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["fps"] > 0 and stats["frames"] > 0 and stats["states"] == []
    assert stats["model_frames"] > 0.5 * duration_s * 50  # the model kept its 50 fps
    for key in ("capture_to_frame_ms", "model_ms", "frame_to_display_ms"):
        assert stats[key]["p50"] is not None and stats[key]["p99"] >= stats[key]["p50"]
    _check_screenshot(shot, tuple(stats["size"]))
    return stats


def _check_screenshot(path: Path, size: tuple[int, int]) -> None:
    """The avatar's skin in the middle, the plain background in three corners (the
    overlay sits in the fourth, top left)."""
    image = np.asarray(Image.open(path).convert("RGB"), np.float64)
    assert image.shape[1::-1] == size
    height, width = image.shape[:2]
    middle = image[int(height * 0.45):int(height * 0.55), int(width * 0.45):int(width * 0.55)]
    r, g, b = np.median(middle.reshape(-1, 3), axis=0)
    assert r > 120 and r > g > b, f"no skin at the centre: median RGB {r, g, b}"
    for corner in (image[-40:, :40], image[-40:, -40:], image[:40, -40:]):
        flat = corner.reshape(-1, 3)
        assert flat.max() < 60 and flat.std(axis=0).max() < 3, "the corners should be background"


@pytest.mark.xvfb
@requires_xvfb
def test_mirror_under_xvfb_with_the_stand_in(xvfb, tmp_path):  # noqa: F811
    control_port = free_udp_port()
    stop = threading.Event()

    def remote_control():  # another program choosing the emotion while the mirror runs
        client = SimpleUDPClient("127.0.0.1", control_port)
        while not stop.wait(0.3):
            client.send_message("/liveface/emotion", ["happy", 0.7])

    sender = threading.Thread(target=remote_control, daemon=True)
    sender.start()
    try:
        with Receiver() as receiver:  # another program listening for the frames as OSC
            stats = _check_run(tmp_path, "--stand-in", "--eye-camera", "synthetic",
                               "--osc", receiver.endpoint, "--osc-control", str(control_port))
    finally:
        stop.set()
    assert stats["animator"] == "stand-in" and stats["overlay"] is True
    assert stats["control"]["applied"] >= 3 and stats["control"]["rejected"] == 0
    output, = stats["outputs"]
    assert output["dialect"] == "liveface" and output["failed"] == 0
    assert output["sent"] + output["dropped"] >= stats["model_frames"] - 1
    assert output["dropped"] <= 0.05 * output["sent"]  # a loaded machine may shed a few
    assert len(receiver.addressed("/liveface/rig")) >= 0.95 * output["sent"]
    eyes = stats["eyes"]  # the synthetic eye looks around; its gaze reaches the avatar
    assert eyes["device_ok"] and eyes["tracked"] > 0.9 * eyes["frames"] > 50
    assert eyes["gaze_rad"] is not None and max(map(abs, eyes["gaze_rad"])) < 0.5
    print(f"mirror under Xvfb: {stats['fps']:.1f} fps at {stats['size']} "
          f"(drawn at {stats['render_size']}), capture-to-frame "
          f"p50 {stats['capture_to_frame_ms']['p50']} ms p99 {stats['capture_to_frame_ms']['p99']} ms")


CLOSE_AFTER_2_S = """
import sys, threading, glfw
from app.cli import main
from app.mirror.window import MirrorWindow
opened = MirrorWindow.__enter__
def enter(self):
    window = opened(self)
    # GLFW allows this call from any thread: as if the user closed the window
    threading.Timer(2.0, glfw.set_window_should_close, (window.handle, True)).start()
    return window
MirrorWindow.__enter__ = enter
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.xvfb
@requires_xvfb
def test_closing_the_window_ends_the_run_and_writes_the_stats(xvfb, tmp_path):  # noqa: F811
    stats_path, shot = tmp_path / "s.json", tmp_path / "m.png"
    result = subprocess.run(
        [sys.executable, "-c", CLOSE_AFTER_2_S, "mirror", "--audio", str(SPEECH), "--stand-in",
         "--stats-json", str(stats_path), "--screenshot", str(shot), "--no-overlay"],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["frames"] > 0 and stats["overlay"] is False
    _check_screenshot(shot, tuple(stats["size"]))


@pytest.mark.xvfb
@requires_xvfb
@pytest.mark.skipif(not STUDENT.is_file(), reason=f"no shipped student at {STUDENT}")
def test_mirror_under_xvfb_with_the_student(xvfb, tmp_path):  # noqa: F811
    stats = _check_run(tmp_path, duration_s=4.0)
    assert stats["animator"].startswith("model:")


def test_dynamic_resolution_gives_up_pixels_when_slow_and_takes_them_back():
    from app.mirror.app import ResolutionGovernor

    governor = ResolutionGovernor(scale=1.0, max_scale=1.0, target_fps=30.0, every=5)
    changes = [governor.observe(0.060) for _ in range(5)]  # 60 ms frames: twice too slow
    assert changes[:4] == [None] * 4 and changes[4] is not None
    assert 0.7 <= changes[4] < 0.8  # a bounded step, not a collapse
    for _ in range(200):
        governor.observe(0.060)
    assert governor.scale == governor.min_scale  # never below the floor
    for _ in range(400):
        governor.observe(0.005)  # fast frames: it grows back, up to the cap
    assert governor.scale == 1.0
    steady = [governor.observe(0.022) for _ in range(50)]  # within the band: left alone
    assert steady == [None] * 50
