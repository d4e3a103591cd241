"""`liveface run` against a real OpenXR runtime: Monado's simulated HMD (marked `xr`).

The command runs inside the Monado chroot (tests/monado.py) exactly as a user runs it, with
a speech file as the microphone: it must walk the session through its states to a clean
exit, submit frames to both eyes, show the avatar in both eyes' pictures, and come back
after the runtime goes away mid-run. The simulated HMD moves by itself, so poses are
checked as ranges. Clients run as the tests' own interpreter runs `app.cli` (any virtual
environment), are waited on through what they print rather than fixed sleeps, and are
signalled by process id.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.resources import asset_path
from tests.monado import LIVEFACE, monado, requires_monado  # noqa: F401 - the fixture is used by name
from tests.xvfb import requires_xvfb, xvfb  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.xr, requires_monado]

SPEECH = asset_path("audio", "sample.wav")
FOCUSED = "session focused"  # what `liveface run` prints when the headset shows the avatar


def liveface_run(tmp_path: Path, seconds: float | None, *extra: str) -> list[str]:
    """`liveface run` with a speech file as its microphone; no `seconds`: until stopped."""
    duration = [] if seconds is None else ["--duration", str(seconds)]
    return [*LIVEFACE, "run", "--audio", str(SPEECH), *duration,
            "--stats-json", str(tmp_path / "x.json"), *extra]


def in_order(seen: list[str], wanted: list[str]) -> bool:
    """`wanted` appears in `seen` in this order, other states allowed in between."""
    position = 0
    for state in seen:
        if position < len(wanted) and state == wanted[position]:
            position += 1
    return position == len(wanted)


def avatar_pixels(picture: np.ndarray) -> np.ndarray:
    """Where a picture differs from its own background (the corner's colour)."""
    background = picture[2, 2].astype(np.int32)
    return np.abs(picture.astype(np.int32) - background).sum(axis=-1) > 40


def test_a_headset_session_runs_to_a_clean_exit_with_both_eyes(monado, tmp_path):
    eyes_png = tmp_path / "eyes.png"
    done = monado.run(liveface_run(tmp_path, 6, "--screenshot", str(eyes_png)))
    assert done.returncode == 0, done.stderr[-3000:] + monado.log()[-2000:]
    stats = json.loads((tmp_path / "x.json").read_text())
    assert in_order(stats["states"], ["ready", "focused", "stopping", "exiting"]), stats["states"]
    assert stats["states"][-1] == "exiting"
    left, right = stats["eye_frames"]
    assert left == right and left >= 20  # every frame went to both eyes
    assert stats["frames"] >= left and stats["fps"] > 3
    assert stats["runtime"].startswith("Monado") and stats["graphics"] == "egl"
    assert stats["depth_frames"] == left  # Monado takes depth: every frame carried it
    assert stats["eye_tracker"] is False and stats["gaze_frames"] == 0  # no eyes simulated
    assert stats["tracked_frames"] >= 20
    low, high = stats["head_yaw_range_deg"]
    assert -90 < low <= high < 90  # the simulated head moves, within a human range
    for key in ("capture_to_frame_ms", "model_ms"):
        assert stats[key]["p50"] is not None and stats[key]["p50"] <= stats[key]["p99"]
    assert stats["animator"].startswith("model:")

    sheet = np.asarray(Image.open(eyes_png).convert("RGB"))
    width = stats["eye_size"][0]
    assert sheet.shape[1] == 2 * width
    columns = []
    for eye in (sheet[:, :width], sheet[:, width:]):
        mask = avatar_pixels(eye)
        assert 0.002 < mask.mean() < 0.5  # the head is there, and it is not everything
        columns.append(np.nonzero(mask)[1].mean())
        rows = np.nonzero(mask.any(axis=1))[0]
        head = mask.copy()  # the upper part of the figure: the head, above the blue shirt
        head[rows[0] + (rows[-1] - rows[0]) // 2:] = False
        skin = eye[head].mean(axis=0)
        assert skin[0] > skin[2] + 10  # warm skin tones, not a grey silhouette
    assert columns[0] > columns[1]  # stereo: the left eye sees the head further right


def test_the_headset_view_returns_after_the_runtime_goes_away(monado, tmp_path):
    client = monado.start_client(liveface_run(tmp_path, None, "--stand-in"))
    try:
        focused = client.wait_for(FOCUSED)
        monado.stop()
        lost = client.wait_for("lost the OpenXR runtime", after=focused)
        monado.start()
        client.wait_for("reconnected", after=lost)
        client.wait_for(FOCUSED, after=lost)  # frames in the headset again
        client.interrupt()
        done = client.finish()
    finally:
        client.kill()
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((tmp_path / "x.json").read_text())
    states = stats["states"]
    assert "lost" in states, states
    after = states[states.index("lost"):]
    assert in_order(after, ["lost", "ready", "focused", "stopping", "exiting"]), states
    assert stats["reconnects"] >= 1
    assert "Traceback" not in done.stderr


@requires_xvfb
def test_the_platform_binding_runs_through_glx_on_an_x_display(monado, xvfb, tmp_path):
    """Desktop runtimes without EGL get GLX: a hidden glfw window's context, on Xvfb here
    (its socket is under /tmp, which the chroot shares). An eye camera (the synthetic eye)
    drives the gaze meanwhile."""
    done = monado.run(liveface_run(tmp_path, 3, "--stand-in", "--graphics", "platform",
                                   "--eye-camera", "synthetic"))
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((tmp_path / "x.json").read_text())
    assert stats["graphics"] == "platform" and stats["states"][-1] == "exiting"
    assert "focused" in stats["states"] and min(stats["eye_frames"]) >= 10
    assert stats["eyes"]["tracked"] > 0.9 * stats["eyes"]["frames"] > 50  # the eye camera's
    assert stats["eyes"]["gaze_rad"] is not None  # gaze, beside the session


def test_the_eye_calibration_runs_in_the_headset_then_drives_the_gaze(monado, tmp_path):
    """`--calibrate-eyes`: the targets show in both eyes one after another while the eye
    camera (the synthetic eye, which looks at whatever target is shown) is recorded; then
    the profile is fitted, saved and used for the rest of the run."""
    from app.eyes.calibration import load_profile, load_schedule

    profile = tmp_path / "eyes.json"
    done = monado.run(liveface_run(tmp_path, 24, "--stand-in", "--eye-camera", "synthetic",
                                   "--calibrate-eyes", "--eye-profile", str(profile)))
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((tmp_path / "x.json").read_text())
    calibration = stats["eyes"]["calibration"]
    print(f"eye calibration in the headset: {calibration}, "
          f"{stats['calibration_frames']} frames with a target")
    targets = len(load_schedule().targets_rad)
    assert calibration["targets"] == targets and calibration["targets_used"] >= targets - 1
    assert calibration["error_deg"] < 1.5 and calibration["profile"] == str(profile)
    assert load_profile(profile).targets_used == calibration["targets_used"]
    assert stats["calibration_frames"] >= 100  # about 16 s of targets at the runtime's rate
    assert stats["eyes"]["gaze_rad"] is not None  # calibrated gaze after the targets
    assert "eye calibration:" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_ends_the_session_cleanly_and_keeps_the_figures(monado, tmp_path):
    client = monado.start_client(liveface_run(tmp_path, None, "--stand-in"))  # until stopped
    try:
        client.wait_for(FOCUSED)  # start-up over (a Ctrl+C before it stops at once, status 130)
        client.interrupt()
        done = client.finish()
    finally:
        client.kill()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stopping: asking the runtime to end the session" in done.stderr
    states = json.loads((tmp_path / "x.json").read_text())["states"]
    assert in_order(states, ["focused", "stopping", "exiting"]) and states[-1] == "exiting", (
        f"{states}\n{done.stderr[-3000:]}\nmonado-service:\n{monado.log()[-3000:]}")


def test_the_issue_command_runs_with_no_microphone_at_all(monado, tmp_path):
    """`liveface run --duration 10 --stats-json x.json` on a machine without any audio
    input: the session still runs to a clean exit, the avatar resting (made-up silence)."""
    done = monado.run([*LIVEFACE, "run", "--duration", "6", "--stats-json",
                       str(tmp_path / "x.json")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no microphone yet" in done.stderr
    stats = json.loads((tmp_path / "x.json").read_text())
    assert in_order(stats["states"], ["ready", "focused", "stopping", "exiting"])
    assert min(stats["eye_frames"]) >= 20 and stats["filled"] > 0
