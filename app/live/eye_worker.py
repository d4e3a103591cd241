"""The eye worker: eye-camera frames in, calibrated and smoothed gaze out, on its own
thread at the camera's rate.

Each frame: find the pupil, map it through the user's calibration, smooth it (One Euro),
and hand the gaze to `on_gaze`. A pupil that vanishes is a blink: `on_eyelids` gets 1
(shut) until it is back (0, open), and the last gaze is held meanwhile. When no pupil has
been seen for `lost_after_s` (eyes kept shut, camera off the face, device unplugged) the
worker hands over None for both, and the model goes back to making up gaze and blinks.

While a calibration is being recorded (`recording`), each pupil fix goes to it too, and a
worker without a calibration yet hands over no gaze. When the front end has shown all the
targets (`recording.ended`), this thread fits and saves the result (`on_recorded`, file
I/O the render loop must not wait for) and uses it from then on. When the worker stops,
for whatever reason, it hands the gaze back to the model.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from app.audio.sources import Clock
from app.eyes.calibrate import CalibrationRecording
from app.eyes.calibration import GazeCalibration
from app.eyes.camera import EyeCamera
from app.eyes.pupil import RELIABLE_CONFIDENCE, find_pupil
from app.eyes.smoothing import OneEuro
from app.live.worker import Worker

GazeSink = Callable[[tuple[float, float] | None], None]
Finisher = Callable[[CalibrationRecording], GazeCalibration | None]


@dataclass(frozen=True)
class EyeConfig:
    min_confidence: float = RELIABLE_CONFIDENCE  # weaker pupil fits count as no pupil
    lost_after_s: float = 0.4  # no pupil this long: the gaze is handed back to the model
    max_angle_rad: float = 0.7  # gaze beyond this is clipped (a bad fit, not an eye)


@dataclass(frozen=True)
class EyeStats:
    frames: int
    tracked: int  # frames with a pupil
    device_ok: bool
    gaze_rad: tuple[float, float] | None  # the latest gaze handed over
    blinks: int  # times the eye closed after being seen open

    def to_dict(self) -> dict:
        return {"frames": self.frames, "tracked": self.tracked, "device_ok": self.device_ok,
                "gaze_rad": None if self.gaze_rad is None else [round(a, 4) for a in self.gaze_rad],
                "blinks": self.blinks}


class EyeWorker(Worker):
    name = "liveface-eyes"

    def __init__(self, camera: EyeCamera, calibration: GazeCalibration | None,
                 on_gaze: GazeSink, clock: Clock, config: EyeConfig | None = None,
                 recording: CalibrationRecording | None = None,
                 on_recorded: Finisher | None = None,
                 on_eyelids: Callable[[float | None], None] = lambda closure: None):
        super().__init__()
        self.camera, self.calibration, self.on_gaze = camera, calibration, on_gaze
        self.clock, self.config = clock, config or EyeConfig()
        self.recording, self.on_recorded, self.on_eyelids = recording, on_recorded, on_eyelids
        self._closure: float | None = None  # the eyelid closure last handed over
        self._blinks = 0
        self._filters = (OneEuro(), OneEuro())
        self._frames = self._tracked = 0
        self._last_pupil_s = -math.inf
        self._gaze: tuple[float, float] | None = None

    def startup(self) -> None:
        self.camera.start()

    def shutdown(self) -> None:
        self.camera.stop()
        self._eyelids(None)
        if self._gaze is not None:
            self._publish(None)

    def step(self) -> None:
        recording = self.recording  # read once: the front end's thread may end it meanwhile
        if recording is not None and recording.ended:
            self.recording = None
            if self.on_recorded is not None:
                self.calibration = self.on_recorded(recording)
            recording = None
        frame = self.camera.read()  # waits a little when no frame is new
        if frame is None:
            self._hand_back_if_lost(self.clock.now_s())
            return
        image, capture_s = frame
        self._frames += 1
        pupil = find_pupil(image)
        if pupil is None or pupil.confidence < self.config.min_confidence:
            if self._closure is not None:  # seen open, not yet handed back: a blink
                self._eyelids(1.0)
            self._hand_back_if_lost(capture_s)
            return
        self._tracked += 1
        self._last_pupil_s = capture_s
        self._eyelids(0.0)
        if recording is not None:
            recording.add(capture_s, pupil.x, pupil.y)
        if self.calibration is None:
            return
        limit = self.config.max_angle_rad
        raw = self.calibration.gaze(pupil.x, pupil.y)
        yaw, pitch = (max(-limit, min(limit, f.filter(a, capture_s)))
                      for f, a in zip(self._filters, raw))
        self._publish((yaw, pitch))

    def _hand_back_if_lost(self, now_s: float) -> None:
        if now_s - self._last_pupil_s <= self.config.lost_after_s:
            return
        self._eyelids(None)
        if self._gaze is not None:
            for f in self._filters:
                f.reset()  # a new fixation starts fresh, not from where the eye was lost
            self._publish(None)

    def _eyelids(self, closure: float | None) -> None:
        """Hand over the eyelids' state when it changes; count each closing."""
        if closure == self._closure:
            return
        self._blinks += closure == 1.0 and self._closure == 0.0
        self._closure = closure
        self.on_eyelids(closure)

    def _publish(self, gaze: tuple[float, float] | None) -> None:
        self._gaze = gaze
        self.on_gaze(gaze)

    @property
    def stats(self) -> EyeStats:
        return EyeStats(self._frames, self._tracked, self.camera.device_ok, self._gaze,
                        self._blinks)
