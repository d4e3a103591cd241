"""Eye cameras to gaze: the calibration fit and its profiles, the cameras, the eye worker,
and `liveface calibrate eyes`, all on synthetic eye images (no camera exists here: the
synthetic eye stands in for one, through the same interface and the real pupil tracker)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.errors import LivefaceError
from app.eyes.calibrate import (
    calibrate,
    record_live,
    record_video,
    schedule_gaze,
    synthetic_calibration,
)
from app.eyes.calibration import (
    GazeCalibration,
    TargetSchedule,
    fixations,
    load_profile,
    load_schedule,
    save_profile,
)
from app.eyes.camera import SyntheticEyeCamera, VideoEyeCamera, open_eye_camera
from app.eyes.pupil import find_pupil
from app.eyes.smoothing import OneEuro
from app.eyes.synthetic import render_eye, write_eye_video
from app.live.clock import ManualClock
from app.live.eye_worker import EyeConfig, EyeWorker

REPO = Path(__file__).resolve().parents[1]
HELD_OUT_GAZES = [(yaw, pitch) for yaw in (-0.27, -0.1, 0.05, 0.22) for pitch in (-0.2, 0.08, 0.17)]


def angle_error_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.degrees(math.hypot(a[0] - b[0], a[1] - b[1]))


def held_out_errors_deg(calibration: GazeCalibration) -> np.ndarray:
    """The calibrated tracker's error on gazes between the calibration's targets."""
    errors = []
    for gaze in HELD_OUT_GAZES:
        pupil = find_pupil(render_eye(*gaze, seed=7))
        errors.append(angle_error_deg(calibration.gaze(pupil.x, pupil.y), gaze))
    return np.array(errors)


# -- the fit --------------------------------------------------------------------------------
def test_a_quadratic_map_is_recovered_exactly():
    rng = np.random.default_rng(0)
    truth = np.array([[0.1, 1.2, 0.1, 0.3, -0.4, 0.2], [-0.05, 0.1, -0.9, 0.0, 0.1, 0.5]])

    def mapped(xy):
        x, y = xy[:, 0], xy[:, 1]
        return (truth @ np.stack([np.ones_like(x), x, y, x * y, x * x, y * y])).T

    pupils = rng.uniform(0.2, 0.8, (9, 2))
    calibration = GazeCalibration.fit(pupils, mapped(pupils))
    assert calibration.coefficients.shape == (2, 6) and calibration.error_deg < 1e-9
    assert calibration.holdout_error_deg < 1e-6  # any eight of them pin the map down
    unseen = rng.uniform(0.3, 0.7, (5, 2))
    got = np.array([calibration.gaze(*xy) for xy in unseen])
    np.testing.assert_allclose(got, mapped(unseen), atol=1e-9)


def test_few_targets_fall_back_to_affine_and_too_few_are_an_error():
    pupils = np.array([[0.4, 0.4], [0.6, 0.4], [0.5, 0.6], [0.45, 0.55]])
    gazes = pupils * 2.0 - 1.0
    calibration = GazeCalibration.fit(pupils, gazes)
    assert calibration.coefficients.shape == (2, 3) and calibration.holdout_error_deg < 1e-9
    assert GazeCalibration.fit(pupils[:3], gazes[:3]).holdout_error_deg is None
    noisy = gazes + np.random.default_rng(2).normal(0, 0.01, gazes.shape)
    fitted = GazeCalibration.fit(pupils, noisy)
    assert fitted.holdout_error_deg > fitted.error_deg  # a target left out is harder
    assert calibration.gaze(0.5, 0.5) == pytest.approx((0.0, 0.0), abs=1e-9)
    with pytest.raises(LivefaceError, match="at least 3"):
        GazeCalibration.fit(pupils[:2], gazes[:2])
    with pytest.raises(LivefaceError, match="hardly moved"):
        GazeCalibration.fit(np.full((6, 2), 0.5), np.random.default_rng(1).normal(size=(6, 2)))


def test_fixations_use_the_settled_part_of_each_hold_and_skip_thin_targets():
    schedule = TargetSchedule(np.array([[0.0, 0.0], [0.3, 0.0], [0.0, 0.3]]), 1.0, 0.5)
    samples = [(t, 0.5, 0.5) for t in np.arange(0.0, 1.0, 0.05)]  # target 0, 10 settled
    samples += [(1.0 + t, 0.9, 0.9) for t in np.arange(0.0, 0.5, 0.05)]  # 1, all unsettled
    samples += [(1.5 + t, 0.7, 0.5) for t in np.arange(0.0, 0.5, 0.05)]  # 1, settled
    samples += [(2.6, 0.5, 0.7), (2.7, 0.5, 0.7)]  # target 2: too few fixes
    pupil_xy, gaze_rad = fixations(samples, schedule)
    np.testing.assert_allclose(pupil_xy, [[0.5, 0.5], [0.7, 0.5]])
    np.testing.assert_allclose(gaze_rad, [[0.0, 0.0], [0.3, 0.0]])
    assert schedule.in_fixation(0.49) is None and schedule.in_fixation(0.5) == 0
    assert schedule.in_fixation(3.0) is None and schedule.target_at(-0.1) is None


# -- profiles and schedules -------------------------------------------------------------------
def test_a_profile_round_trips_and_bad_ones_are_clear_errors(tmp_path):
    calibration = GazeCalibration(np.arange(12, dtype=np.float64).reshape(2, 6) / 10, 0.4, 9)
    path = save_profile(calibration, tmp_path / "eyes" / "me.json")
    loaded = load_profile(path)
    np.testing.assert_array_equal(loaded.coefficients, calibration.coefficients)
    assert loaded.gaze(0.3, 0.6) == calibration.gaze(0.3, 0.6) and loaded.targets_used == 9
    assert loaded.holdout_error_deg is None
    older = calibration.to_dict()
    del older["holdout_error_deg"]  # profiles written before that figure existed
    path.write_text(json.dumps({**older, "holdout_error_deg": 0.8}))
    assert load_profile(path).holdout_error_deg == 0.8
    path.write_text(json.dumps(older))
    assert load_profile(path).targets_used == 9
    with pytest.raises(LivefaceError, match="calibrate eyes"):
        load_profile(tmp_path / "none.json")
    for text in ("{not json", json.dumps({"coefficients": [[1, 2]], "error_deg": 0,
                                          "targets_used": 3}),
                 json.dumps({**calibration.to_dict(), "coefficients": [[float("nan")] * 6] * 2})):
        path.write_text(text)
        with pytest.raises(LivefaceError, match="unreadable"):
            load_profile(path)


def test_the_shipped_schedule_and_bad_schedules(tmp_path):
    schedule = load_schedule()
    assert len(schedule.targets_rad) >= 9 and schedule.duration_s == pytest.approx(
        len(schedule.targets_rad) * schedule.hold_s)
    assert np.abs(schedule.targets_rad).max() <= 0.5
    bad = tmp_path / "t.toml"
    for text, message in (("hold_s = [", "cannot read"),
                          ("hold_s = 1\nsettle_s = 0.5\ntargets_rad = [[0, 0]]", "at least 3"),
                          ("hold_s = 1\nsettle_s = 2\ntargets_rad = [[0,0],[1,0],[0,1]]",
                           "settle_s")):
        bad.write_text(text)
        with pytest.raises(LivefaceError, match=message):
            load_schedule(bad)


class ShuttingEye(SyntheticEyeCamera):
    """The synthetic eye, shut whenever `shut(t_s)`."""

    def __init__(self, clock, gaze_at, shut):
        super().__init__(clock, gaze_at)
        self.shut = shut

    def frame(self, index):
        t_s = index / self.fps
        return render_eye(*self.gaze_at(t_s), openness=0.0 if self.shut(t_s) else 1.0,
                          seed=index)


# -- calibrating the synthetic eye ------------------------------------------------------------
def test_the_synthetic_eye_calibrates_to_within_a_degree():
    calibration = synthetic_calibration()
    errors = held_out_errors_deg(calibration)
    print(f"synthetic eye: fit error {calibration.error_deg:.3f} deg over "
          f"{calibration.targets_used} targets, {calibration.holdout_error_deg:.3f} deg "
          f"leaving each out; gazes between targets mean {errors.mean():.3f} "
          f"max {errors.max():.3f} deg")
    assert calibration.targets_used == len(load_schedule().targets_rad)
    assert calibration.error_deg < 1.0 and errors.max() < 1.5


def test_a_recorded_eye_video_calibrates_like_the_live_eye(tmp_path):
    schedule = load_schedule()
    fps = 30.0
    gaze_at = schedule_gaze(schedule)
    gazes = np.array([gaze_at(i / fps) for i in range(int(schedule.duration_s * fps))])
    video = tmp_path / "eye.mkv"
    write_eye_video(video, gazes, fps)
    calibration = calibrate(record_video(video, schedule), schedule)
    assert calibration.targets_used == len(schedule.targets_rad)
    assert held_out_errors_deg(calibration).max() < 1.5
    short = tmp_path / "short.mkv"
    write_eye_video(short, gazes[: int(fps * 3)], fps)
    with pytest.raises(LivefaceError, match="calibration targets take"):
        record_video(short, schedule)


def test_a_live_run_tells_which_target_to_show_and_survives_a_blind_stretch():
    schedule = TargetSchedule(np.array([[0.0, 0.0], [0.3, 0.2], [-0.3, 0.2], [0.0, -0.2]]),
                              0.5, 0.2)
    gaze_at = schedule_gaze(schedule)
    clock = ManualClock()
    shown = []
    camera = ShuttingEye(clock, gaze_at, lambda t: 1.0 <= t < 1.5)  # through target 2
    samples = record_live(camera, schedule, clock, on_target=shown.append)
    assert shown == [0, 1, 2, 3, None]
    calibration = calibrate(samples, schedule)  # target 2 was not seen: affine on three
    assert calibration.targets_used == 3 and calibration.coefficients.shape == (2, 3)


# -- cameras ----------------------------------------------------------------------------------
def test_a_video_camera_is_paced_by_the_clock_and_loops(tmp_path):
    video = tmp_path / "eye.mkv"
    write_eye_video(video, np.array([[-0.3, 0.0], [0.0, 0.0], [0.3, 0.0]]), 10.0)
    clock = ManualClock(100.0)
    camera = open_eye_camera(str(video), clock)
    assert isinstance(camera, VideoEyeCamera)
    camera.start()
    first = camera.read()
    assert first is not None and first[1] == pytest.approx(100.0)
    assert camera.read() is None  # the next frame is not due yet
    clock.advance_s(0.25)  # frames 1 and 2 are due: the newest is handed out
    image, capture_s = camera.read()
    assert capture_s == pytest.approx(100.2) and find_pupil(image).x > 0.6
    clock.advance_s(0.1)  # frame 3 = frame 0 again
    image, _ = camera.read()
    assert find_pupil(image).x < 0.4
    camera.stop()


def test_camera_frames_of_every_usual_format_become_the_same_grey():
    from app.eyes.camera import as_grey

    grey = render_eye(0.2, -0.1)
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    formats = [grey, grey[..., None], bgr, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA),
               grey.astype(np.uint16) << 8]
    for image in formats:
        out = as_grey(image)
        assert out.dtype == np.uint8 and out.shape == grey.shape
        assert np.abs(out.astype(int) - grey).max() <= 1


def test_bad_cameras_are_clear_errors(tmp_path):
    clock = ManualClock()
    with pytest.raises(LivefaceError, match="no eye video"):
        open_eye_camera(str(tmp_path / "missing.mkv"), clock)
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(LivefaceError, match="cannot read"):
        open_eye_camera(str(junk), clock)
    with pytest.raises(LivefaceError, match="eye camera 7"):
        open_eye_camera("7", clock)  # said before any window opens


def test_a_truncated_eye_video_plays_what_it_holds_and_never_raises(tmp_path):
    video = tmp_path / "eye.mkv"
    write_eye_video(video, np.array([[0.3 * np.sin(i / 5), 0.0] for i in range(60)]), 30.0)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    clock = ManualClock()
    camera = open_eye_camera(str(video), clock)
    camera.start()
    frames = 0
    for _ in range(150):  # 5 s of a 2 s recording cut in half
        clock.advance_s(1 / 30)
        frames += camera.read() is not None
    assert frames > 100 and camera.device_ok  # it looped over what was left
    camera.stop()


class FlakyCapture:
    """Stands in for cv2.VideoCapture on a camera device (no video device exists here, so
    this one is mocked): opens while `plugged`, and a read fails once it is pulled."""

    plugged = True

    def __init__(self, index):
        self.open = FlakyCapture.plugged

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.open

    def read(self):
        if not (self.open and FlakyCapture.plugged):
            return False, None
        return True, render_eye(0.1, 0.0)

    def release(self):
        self.open = False


def test_an_unplugged_camera_is_reopened_when_it_returns(monkeypatch):
    import app.eyes.camera as camera_module

    monkeypatch.setattr(camera_module.cv2, "VideoCapture", FlakyCapture)
    FlakyCapture.plugged = True
    clock = ManualClock()
    camera = open_eye_camera("0", clock)
    camera.start()
    assert camera.read() is not None and camera.device_ok
    FlakyCapture.plugged = False
    assert camera.read() is None and not camera.device_ok
    clock.advance_s(2.0)
    assert camera.read() is None and not camera.device_ok  # tried again, still away
    FlakyCapture.plugged = True
    assert camera.read() is None  # not before the next try is due
    clock.advance_s(1.0)
    frame = camera.read()
    assert frame is not None and camera.device_ok and find_pupil(frame[0]).x > 0.5
    camera.stop()


# -- the eye worker ---------------------------------------------------------------------------
def test_the_eye_worker_hands_over_calibrated_gaze_and_lets_go_when_the_eye_shuts():
    clock = ManualClock()
    gaze = (0.2, -0.1)
    handed = []
    camera = ShuttingEye(clock, lambda t: gaze, lambda t: t >= 1.0)
    worker = EyeWorker(camera, synthetic_calibration(),
                       lambda g: handed.append((clock.now_s(), g)), clock, EyeConfig())
    worker.startup()  # stepped here, without its thread, so time is the test's
    while clock.now_s() < 2.0:
        worker.step()
    worker.shutdown()
    open_gazes = [g for t, g in handed if 0.5 < t < 1.0]
    assert open_gazes and all(angle_error_deg(g, gaze) < 1.5 for g in open_gazes)
    released = [t for t, g in handed if g is None]
    last_open_s = 1.0 - 1.0 / camera.fps
    assert len(released) == 1 and last_open_s + EyeConfig().lost_after_s < released[0] < 1.6
    stats = worker.stats
    assert stats.gaze_rad is None and 0.4 < stats.tracked / stats.frames < 0.6


def test_blinks_are_measured_and_a_long_closure_hands_back_to_the_model():
    """Shut for 0.2 s (a blink) at 1 s, then for a whole second from 2 s."""
    clock = ManualClock()
    eyelids = []
    camera = ShuttingEye(clock, lambda t: (0.1, 0.0), lambda t: 1.0 <= t < 1.2 or 2.0 <= t < 3.0)
    worker = EyeWorker(camera, synthetic_calibration(), lambda gaze: None, clock,
                       on_eyelids=lambda closure: eyelids.append((clock.now_s(), closure)))
    worker.startup()
    while clock.now_s() < 3.5:
        worker.step()
    worker.shutdown()
    states = [closure for _, closure in eyelids]
    assert states == [0.0, 1.0, 0.0, 1.0, None, 0.0, None]  # the last: the worker stopped
    times = [t for t, _ in eyelids]
    assert 1.0 <= times[1] < 1.05 and 1.2 <= times[2] < 1.25 and 2.0 <= times[3] < 2.05
    assert 2.0 - 1 / camera.fps + 0.4 < times[4] < 2.45 and 3.0 <= times[5] < 3.05
    assert worker.stats.blinks == 2


def test_a_calibration_run_in_the_worker_then_its_gaze(tmp_path):
    """As in the headset: the front end shows the targets on its clock, the eye (the
    synthetic one, looking at what is shown) is recorded by the worker, the front end ends
    the run, and the worker fits, saves and then hands over calibrated gaze."""
    from app.eyes.calibrate import CalibrationRecording
    from app.live.factory import EyeTracking, finish_calibration

    schedule = TargetSchedule(np.array([[0.0, 0.0], [0.3, 0.2], [-0.3, 0.2], [0.3, -0.2],
                                        [-0.3, -0.2], [0.15, 0.0]]), 0.5, 0.2)
    clock = ManualClock()
    recording = CalibrationRecording(schedule)
    eyes = EyeTracking(SyntheticEyeCamera(clock, recording.gaze_at), None, recording,
                       tmp_path / "eyes.json")
    handed = []
    worker = EyeWorker(eyes.camera, None, handed.append, clock, recording=recording,
                       on_recorded=lambda run: finish_calibration(eyes, run))
    worker.startup()
    shown = set()
    while (target := recording.target_to_show(clock.now_s())) is not None:  # the front end
        shown.add(target)
        worker.step()
    assert len(shown) == 6 and handed == []  # no gaze while calibrating
    recording.end()
    for _ in range(30):
        worker.step()
    assert worker.calibration is not None and worker.recording is None
    assert eyes.outcome["targets_used"] == 6 and eyes.outcome["error_deg"] < 1.5
    assert load_profile(tmp_path / "eyes.json").targets_used == 6
    assert handed and angle_error_deg(handed[-1], recording.gaze_at(0.0)) < 1.5
    worker.shutdown()
    assert handed[-1] is None  # a stopped worker gives the gaze back to the model


def test_a_calibration_run_that_saw_nothing_is_reported_and_the_run_goes_on(tmp_path):
    from app.eyes.calibrate import CalibrationRecording
    from app.live.factory import EyeTracking, finish_calibration

    schedule = TargetSchedule(np.array([[0.0, 0.0], [0.3, 0.2], [-0.3, 0.2]]), 0.5, 0.2)
    recording = CalibrationRecording(schedule)
    recording.target_to_show(0.0)
    eyes = EyeTracking(None, None, recording, tmp_path / "eyes.json")
    assert finish_calibration(eyes, recording) is None
    assert "at least 3" in eyes.outcome["error"] and not (tmp_path / "eyes.json").exists()


def test_the_one_euro_filter_steadies_a_still_eye_and_follows_a_saccade():
    rng = np.random.default_rng(3)
    smooth = OneEuro()
    times = np.arange(0, 2, 1 / 60)
    still = [smooth.filter(0.1 + rng.normal(0, 0.01), t) for t in times[:60]]
    assert np.std(still[20:]) < 0.4 * 0.01
    jumped = [smooth.filter(0.4, t) for t in times[60:75]]  # 0.3 rad in one frame
    assert jumped[-1] > 0.38  # within 250 ms of the jump, most of the way there


# -- the command ------------------------------------------------------------------------------
def _liveface(config_home: Path, *args: str) -> subprocess.CompletedProcess:
    """The command with its own config folder, never the user's."""
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_CONFIG_HOME": str(config_home)})


def test_calibrate_eyes_from_a_recording_saves_a_profile(tmp_path):
    schedule = load_schedule()
    fps = 30.0
    gaze_at = schedule_gaze(schedule)
    video = tmp_path / "eye.mkv"
    write_eye_video(video, np.array([gaze_at(i / fps)
                                     for i in range(int(schedule.duration_s * fps))]), fps)
    profile = tmp_path / "profile.json"
    result = _liveface(tmp_path, "calibrate", "eyes", "--camera", str(video), "--profile",
                       str(profile),
                       "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["targets_used"] == figures["targets"] == len(schedule.targets_rad)
    assert figures["error_deg"] < 1.0
    assert held_out_errors_deg(load_profile(profile)).max() < 1.5


def test_calibrate_eyes_refuses_clearly(tmp_path):
    for camera, message in (("0", "--calibrate-eyes"),
                            (str(tmp_path / "missing.mkv"), "no eye video")):
        result = _liveface(tmp_path, "calibrate", "eyes", "--camera", camera,
                           "--profile", str(tmp_path / "p.json"))
        assert result.returncode == 2 and message in result.stderr
        assert "Traceback" not in result.stderr


def test_a_named_profiles_calibration_drives_a_real_camera_unless_a_file_is_given(tmp_path):
    """`--profile NAME` hands its eye calibration to the eye tracking of a camera that is
    not the synthetic eye; `--eye-profile FILE` still wins; without either, the saved file."""
    from app.live.factory import make_eye_tracking

    video = tmp_path / "eye.mkv"
    write_eye_video(video, np.array([[0.0, 0.0]]), 10.0)
    theirs = GazeCalibration(np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]), 1.0, 9)
    filed = GazeCalibration(np.array([[0.2, 0.0, 0.0], [0.0, 0.2, 0.0]]), 2.0, 7)
    save_profile(filed, tmp_path / "file.json")
    clock = ManualClock()
    eyes = make_eye_tracking(str(video), None, clock, calibration=theirs)
    assert eyes.calibration is theirs
    eyes = make_eye_tracking(str(video), tmp_path / "file.json", clock, calibration=theirs)
    assert eyes.calibration.targets_used == 7
    with pytest.raises(LivefaceError, match="no eye calibration"):
        make_eye_tracking(str(video), tmp_path / "absent.json", clock)
