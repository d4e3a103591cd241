"""Eye cameras behind one interface: a camera device, a recorded eye video, a synthetic eye.

    camera.start()
    frame = camera.read()        # (grey uint8 image, capture time s), or None after a
                                 # short wait (up to a frame) when no frame is new
    camera.device_ok             # False while a device is lost (it is reopened meanwhile)
    camera.stop()

A device's `read` waits for its next frame (the eye worker's thread is the one that
waits); a video or a synthetic eye is paced on the injected clock at its frame rate and
waits at most until its next frame is due. Videos loop, so a short recording can stand in
for a camera.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from app.audio.sources import Clock
from app.errors import LivefaceError, notice

REOPEN_EVERY_S = 1.0  # how often a lost device is tried again
SYNTHETIC_FPS = 60.0


class EyeCamera(Protocol):
    name: str

    def start(self) -> None: ...

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def stop(self) -> None: ...

    @property
    def device_ok(self) -> bool: ...


def open_eye_camera(spec: str, clock: Clock) -> EyeCamera:
    """`synthetic`, a camera index (`0`, `1`, ...) or an eye video's path."""
    if spec == "synthetic":
        return SyntheticEyeCamera(clock)
    if spec.isdigit():
        return DeviceEyeCamera(int(spec), clock)
    return VideoEyeCamera(Path(spec), clock)


def as_grey(image: np.ndarray) -> np.ndarray:
    """8-bit grey from what cameras deliver: grey, BGR or BGRA, 8 or 16 bits (infrared
    cameras often give 16), or one-channel (H, W, 1)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    elif image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    return image


class DeviceEyeCamera:
    """A camera by index through OpenCV; a lost camera is reopened every REOPEN_EVERY_S."""

    def __init__(self, index: int, clock: Clock):
        """Opens the camera once to check it is there (a clear error now, not once a
        window is open), then lets it go until `start`."""
        self.index, self.clock, self.name = index, clock, f"camera {index}"
        self._capture: cv2.VideoCapture | None = None
        self._next_try_s = -math.inf
        self.start()
        self.stop()

    def start(self) -> None:
        if not self._open():
            raise LivefaceError(f"cannot open eye camera {self.index}; check that it is "
                                "plugged in and not used by another program.")

    def _open(self) -> bool:
        self._next_try_s = self.clock.now_s() + REOPEN_EVERY_S
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we say it better
        try:
            capture = cv2.VideoCapture(self.index)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not capture.isOpened():
            capture.release()
            return False
        self._capture = capture
        return True

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._capture is None and (self.clock.now_s() < self._next_try_s
                                      or not self._open()):
            self.clock.sleep_s(0.05)
            return None
        ok, image = self._capture.read()
        if not ok:
            self._capture.release()
            self._capture = None  # unplugged: reopened on a later read
            return None
        return as_grey(image), self.clock.now_s()

    def stop(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    @property
    def device_ok(self) -> bool:
        return self._capture is not None


class PacedEyeCamera:
    """Frames released at `fps` on the injected clock: `read` hands out the newest frame
    that is due and not yet read, skipping any the reader was too slow for."""

    name = "paced"

    def __init__(self, clock: Clock, fps: float):
        self.clock, self.fps = clock, fps
        self._start_s: float | None = None
        self._next = 0  # index of the next frame to hand out

    def start(self) -> None:
        self._start_s, self._next = self.clock.now_s(), 0

    def stop(self) -> None:
        self._start_s = None

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._start_s is None:
            raise RuntimeError("read() before start()")
        due = math.floor((self.clock.now_s() - self._start_s) * self.fps)
        if due < self._next:
            self.clock.sleep_s(min(0.005, (self._next - due) / self.fps))
            return None
        image = self.frame(due)
        self._next = due + 1
        return None if image is None else (image, self._start_s + due / self.fps)

    def frame(self, index: int) -> np.ndarray | None:
        """Frame `index` (frames skipped before it are never asked for); None when it
        cannot be had."""
        raise NotImplementedError

    @property
    def device_ok(self) -> bool:
        return True


class VideoEyeCamera(PacedEyeCamera):
    """A recorded eye video, looped, at its own frame rate."""

    def __init__(self, path: Path, clock: Clock):
        if not path.is_file():
            raise LivefaceError(f"no eye video at {path} (give a camera index, a video file "
                                "or `synthetic`).")
        capture = cv2.VideoCapture(str(path))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not capture.isOpened() or frames <= 0:
            capture.release()
            raise LivefaceError(f"cannot read {path} as a video.")
        super().__init__(clock, fps if math.isfinite(fps) and fps > 0 else 30.0)
        self.name, self.frames, self._capture, self._position = str(path), frames, capture, 0
        self.readable = True

    def frame(self, index: int) -> np.ndarray | None:
        if not self.readable:
            return None
        wanted = index % self.frames
        if wanted < self._position:  # looped round
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._position = 0
        while self._position < wanted:
            self._capture.grab()
            self._position += 1
        ok, image = self._capture.read()
        self._position += 1
        if not ok and wanted > 0:  # fewer frames than the header said: loop from here on
            self.frames = wanted
            return self.frame(index)
        if not ok:  # nothing readable: the gaze goes back to the model, the run goes on
            notice(f"no frame of {self.name} can be read; the file may be damaged. The eye "
                   "camera is off.")
            self.readable = False
            return None
        return as_grey(image)

    @property
    def device_ok(self) -> bool:
        return self.readable

    def stop(self) -> None:
        super().stop()
        self._capture.release()


def wandering_gaze(t_s: float) -> tuple[float, float]:
    """A slow look around (yaw, pitch rad): the synthetic eye's default."""
    return 0.3 * math.sin(2 * math.pi * 0.13 * t_s), 0.18 * math.sin(2 * math.pi * 0.21 * t_s)


class SyntheticEyeCamera(PacedEyeCamera):
    """An infrared-like eye image drawn for `gaze_at(t_s)` (the user's gaze, seconds after
    start): a camera stand-in for demos and tests."""

    name = "synthetic"

    def __init__(self, clock: Clock, gaze_at: Callable[[float], tuple[float, float]]
                 = wandering_gaze, fps: float = SYNTHETIC_FPS):
        super().__init__(clock, fps)
        self.gaze_at = gaze_at

    def frame(self, index: int) -> np.ndarray:
        from app.eyes.synthetic import render_eye

        return render_eye(*self.gaze_at(index / self.fps), seed=index)
