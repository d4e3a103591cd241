"""What the model worker drives: anything with `push(block) -> frame`.

The trained `StreamingAnimator` (app/model/animator.py) fits as it is. `LoudnessAnimator`
is a stand-in that opens the jaw with the input level; it lets the live path, the mirror
and their tests run without a trained model.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.avatar.emotions import EMOTIONS, emotion_flush, emotion_rig
from app.avatar.rig import RIG_INDEX, clamp_rig, neutral_rig
from app.avatar.texture_controls import NUM_REGIONS, REGION_INDEX


class AnimatorLike(Protocol):
    """One 20 ms block (320 samples at 16 kHz, a torch tensor) in, one frame out.

    The frame has `rig` (…, 57), `wrinkle` (…, NUM_REGIONS) and `flush` (…, NUM_REGIONS),
    as torch tensors or numpy arrays holding one frame. `gaze` is a measured (yaw, pitch)
    in radians (rig signs), or None when nothing measures it.
    """

    def push(self, block: Any, emotion: int = 0, intensity: float = 0.0,
             gaze: tuple[float, float] | None = None) -> Any: ...


@dataclass(frozen=True)
class StandInFrame:
    rig: np.ndarray  # (1, 1, RIG_SIZE)
    wrinkle: np.ndarray  # (1, 1, NUM_REGIONS)
    flush: np.ndarray  # (1, 1, NUM_REGIONS)


class LoudnessAnimator:
    """jawOpen follows the block's RMS level between `floor_dbfs` (closed) and
    `full_dbfs` (fully open), with a fast attack and a slower release, on top of the
    selected emotion's face; a measured gaze turns the eyes."""

    def __init__(self, floor_dbfs: float = -50.0, full_dbfs: float = -15.0,
                 max_open: float = 0.7, attack: float = 0.6, release: float = 0.25):
        self.floor_dbfs, self.full_dbfs, self.max_open = floor_dbfs, full_dbfs, max_open
        self.attack, self.release = attack, release
        self.jaw = 0.0

    def push(self, block: Any, emotion: int = 0, intensity: float = 0.0,
             gaze: tuple[float, float] | None = None) -> StandInFrame:
        samples = np.asarray(block, np.float32).reshape(-1)
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
        level_dbfs = 20.0 * np.log10(max(rms, 1e-6))
        openness = np.clip((level_dbfs - self.floor_dbfs) / (self.full_dbfs - self.floor_dbfs),
                           0.0, 1.0)
        target = self.max_open * float(openness)
        rate = self.attack if target > self.jaw else self.release
        self.jaw += rate * (target - self.jaw)
        name = EMOTIONS[emotion]
        rig = neutral_rig() + emotion_rig(name, intensity)
        rig[RIG_INDEX["jawOpen"]] += self.jaw
        if gaze is not None:
            rig[RIG_INDEX["gazeYaw"]], rig[RIG_INDEX["gazePitch"]] = gaze
        flush = np.zeros(NUM_REGIONS, np.float32)
        flush[REGION_INDEX["cheeks"]] = emotion_flush(name, intensity)
        return StandInFrame(clamp_rig(rig).reshape(1, 1, -1),
                            np.zeros((1, 1, NUM_REGIONS), np.float32), flush.reshape(1, 1, -1))
