"""The hand-off from the model worker to the render loop: the two newest frames.

The worker publishes a frame by swapping a pair under a lock held for two assignments;
the render loop reads the pair the same way. Neither ever waits for the other's work, and
the renderer interpolates between the two frames at the display rate.
"""

import threading
from dataclasses import dataclass

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.rig import neutral_rig
from app.avatar.texture_controls import NUM_REGIONS

FRAME_PERIOD_S = 1.0 / FRAME_RATE_HZ


@dataclass(frozen=True)
class LiveFrame:
    index: int  # frames published before this one
    rig: np.ndarray  # (RIG_SIZE,) float32
    wrinkle: np.ndarray  # (NUM_REGIONS,) float32
    flush: np.ndarray  # (NUM_REGIONS,) float32
    capture_s: float  # capture time of the last sample of its audio
    ready_s: float  # when it was published


@dataclass(frozen=True)
class DisplayFrame:
    """What the renderer shows at one display time."""

    rig: np.ndarray
    wrinkle: np.ndarray
    flush: np.ndarray
    frame_index: int  # the newest frame blended in; -1 before the first frame
    alpha: float  # weight of the newest frame against the one before it
    age_s: float  # display time minus the newest frame's ready time


REST = DisplayFrame(neutral_rig(), np.zeros(NUM_REGIONS, np.float32),
                    np.zeros(NUM_REGIONS, np.float32), -1, 1.0, 0.0)


class FrameMailbox:
    def __init__(self):
        self._lock = threading.Lock()
        self._previous: LiveFrame | None = None
        self._latest: LiveFrame | None = None

    def publish(self, frame: LiveFrame) -> None:
        with self._lock:
            self._previous, self._latest = self._latest, frame

    def latest_two(self) -> tuple[LiveFrame | None, LiveFrame | None]:
        with self._lock:
            return self._previous, self._latest


def interpolate(previous: LiveFrame | None, latest: LiveFrame | None,
                display_s: float) -> DisplayFrame:
    """Blend from the previous frame to the newest one over the frame period that
    follows the newest frame's arrival; hold the newest frame after that.

    Showing each frame fully one period after it arrives costs up to 20 ms of display
    latency and buys motion without steps at any display rate.
    """
    if latest is None:
        return REST
    age_s = display_s - latest.ready_s
    if previous is None:
        return DisplayFrame(latest.rig, latest.wrinkle, latest.flush, latest.index, 1.0, age_s)
    alpha = float(np.clip(age_s / FRAME_PERIOD_S, 0.0, 1.0))

    def blend(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + np.float32(alpha) * (b - a)

    return DisplayFrame(blend(previous.rig, latest.rig), blend(previous.wrinkle, latest.wrinkle),
                        blend(previous.flush, latest.flush), latest.index, alpha, age_s)
