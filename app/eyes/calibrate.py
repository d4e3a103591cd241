"""Eye-camera calibration runs: pupil fixes collected while the user follows the targets,
turned into a `GazeCalibration`.

Live (a camera, or the synthetic eye): frames are read for the schedule's length on the
injected clock, and `on_target` is told which target to show. In the headset
(`CalibrationRecording`): the frame loop shows the targets and the eye worker adds the
fixes. Recorded (an eye video made while following the same schedule from its first
frame): every frame is used, timed by its index, as fast as it decodes.
"""

import math
from collections.abc import Callable
from pathlib import Path

import cv2

from app.audio.sources import Clock
from app.errors import LivefaceError
from app.eyes.calibration import GazeCalibration, TargetSchedule, fixations
from app.eyes.camera import EyeCamera, as_grey
from app.eyes.pupil import RELIABLE_CONFIDENCE, find_pupil

Sample = tuple[float, float, float]  # (t_s after the start, pupil x, pupil y)


def schedule_gaze(schedule: TargetSchedule) -> Callable[[float], tuple[float, float]]:
    """Where an ideal user looks `t_s` into the schedule: each target in turn, the first
    one before the start and the last one after the end."""
    last_s = schedule.duration_s - schedule.hold_s / 2

    def gaze_at(t_s: float) -> tuple[float, float]:
        yaw, pitch = schedule.targets_rad[schedule.target_at(min(max(t_s, 0.0), last_s))]
        return float(yaw), float(pitch)
    return gaze_at


def _fix(image) -> tuple[float, float] | None:
    pupil = find_pupil(image)
    if pupil is None or pupil.confidence < RELIABLE_CONFIDENCE:
        return None
    return pupil.x, pupil.y


def record_live(camera: EyeCamera, schedule: TargetSchedule, clock: Clock,
                on_target: Callable[[int | None], None] | None = None) -> list[Sample]:
    """Read `camera` for the schedule's length; `on_target(index)` whenever the target to
    show changes (None at the end)."""
    samples: list[Sample] = []
    shown: int | None = -1
    camera.start()
    try:
        start_s = clock.now_s()
        while (t_s := clock.now_s() - start_s) < schedule.duration_s:
            target = schedule.target_at(t_s)
            if target != shown and on_target is not None:
                on_target(target)
            shown = target
            frame = camera.read()
            if frame is not None and (fix := _fix(frame[0])) is not None:
                samples.append((frame[1] - start_s, *fix))
    finally:
        camera.stop()
        if on_target is not None:
            on_target(None)
    return samples


def record_video(path: Path, schedule: TargetSchedule) -> list[Sample]:
    """Pupil fixes of every frame of an eye video recorded while following `schedule`."""
    if not path.is_file():
        raise LivefaceError(f"no eye video at {path}.")
    capture = cv2.VideoCapture(str(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not capture.isOpened() or not (math.isfinite(fps) and fps > 0):
            raise LivefaceError(f"cannot read {path} as a video.")
        samples: list[Sample] = []
        index = 0
        while index / fps < schedule.duration_s:
            ok, image = capture.read()
            if not ok:
                break
            if (fix := _fix(as_grey(image))) is not None:
                samples.append((index / fps, *fix))
            index += 1
    finally:
        capture.release()
    if index / fps < schedule.duration_s - schedule.hold_s:
        raise LivefaceError(f"{path} holds {index / fps:.1f} s; the calibration targets take "
                            f"{schedule.duration_s:.1f} s.")
    return samples


def calibrate(samples: list[Sample], schedule: TargetSchedule) -> GazeCalibration:
    pupil_xy, gaze_rad = fixations(samples, schedule)
    return GazeCalibration.fit(pupil_xy, gaze_rad)


def synthetic_calibration() -> GazeCalibration:
    """The synthetic eye's calibration, run through the shipped targets in simulated time
    (about a second of work)."""
    from app.eyes.calibration import load_schedule
    from app.eyes.camera import SyntheticEyeCamera
    from app.live.clock import ManualClock

    schedule = load_schedule()
    clock = ManualClock()
    samples = record_live(SyntheticEyeCamera(clock, schedule_gaze(schedule)), schedule, clock)
    return calibrate(samples, schedule)


class CalibrationRecording:
    """A calibration run paced by whoever shows the targets (the headset's frame loop):
    it starts with the first target shown, and the eye worker adds each pupil fix to it
    from its own thread."""

    def __init__(self, schedule: TargetSchedule):
        self.schedule = schedule
        self.start_s: float | None = None
        self.samples: list[Sample] = []
        self.shown: tuple[float, float] | None = None  # the target on show, (yaw, pitch)
        self.ended = False

    def target_to_show(self, now_s: float) -> tuple[float, float] | None:
        """The target (yaw, pitch) to show at `now_s`, the first call starting the run;
        None once it is over."""
        if self.start_s is None:
            self.start_s = now_s
        index = self.schedule.target_at(now_s - self.start_s)
        self.shown = None if index is None else tuple(map(float, self.schedule.targets_rad[index]))
        return self.shown

    def end(self) -> None:
        """All targets were shown: the eye worker takes it from here (fit and save)."""
        self.ended = True

    def add(self, capture_s: float, x: float, y: float) -> None:
        if self.start_s is not None:
            self.samples.append((capture_s - self.start_s, x, y))

    def gaze_at(self, _t_s: float) -> tuple[float, float]:
        """Where a user following the targets looks: for the synthetic eye."""
        return self.shown or (0.0, 0.0)

    def result(self) -> GazeCalibration:
        return calibrate(list(self.samples), self.schedule)
