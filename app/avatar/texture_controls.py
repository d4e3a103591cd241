"""Texture controls: per-region wrinkle and flush weights that drive the skin shader.

Geometry alone cannot show a furrowed brow or a blush; the expression codec's decoder emits
these weights beside the rig vector, and the renderer applies them as uniforms. Until a
decoder exists, `texture_controls_from_rig` derives plausible ones from the blendshapes.

Each skin vertex of an avatar belongs to at most one region (its `_REGION` attribute: the
region's index, or -1 for none).
"""

from dataclasses import dataclass

import numpy as np

from app.avatar.rig import RIG_INDEX

REGIONS: tuple[str, ...] = ("forehead", "brows", "eyes", "nose", "cheeks", "mouth")
NUM_REGIONS = len(REGIONS)
NO_REGION = -1
REGION_INDEX = {name: i for i, name in enumerate(REGIONS)}


@dataclass(frozen=True)
class TextureControls:
    """Wrinkle (0 smooth .. 1 deeply creased) and flush (0 .. 1 reddened) per region."""

    wrinkle: np.ndarray  # (NUM_REGIONS,) float32
    flush: np.ndarray  # (NUM_REGIONS,) float32

    @classmethod
    def neutral(cls) -> "TextureControls":
        return cls(np.zeros(NUM_REGIONS, np.float32), np.zeros(NUM_REGIONS, np.float32))

    def clamped(self) -> "TextureControls":
        """Finite values in [0, 1]; NaN becomes 0."""
        return TextureControls(_unit(self.wrinkle), _unit(self.flush))


def _unit(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32).reshape(NUM_REGIONS)
    return np.clip(np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def _mean(rig: np.ndarray, *names: str) -> float:
    return float(np.mean([rig[RIG_INDEX[n]] for n in names]))


def texture_controls_from_rig(rig: np.ndarray, flush: float = 0.0) -> TextureControls:
    """Wrinkles that follow the muscles the blendshapes imply, plus a uniform flush."""
    wrinkle = np.array(
        [
            _mean(rig, "browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
            _mean(rig, "browDownLeft", "browDownRight"),
            _mean(rig, "eyeSquintLeft", "eyeSquintRight", "cheekSquintLeft", "cheekSquintRight"),
            _mean(rig, "noseSneerLeft", "noseSneerRight"),
            _mean(rig, "mouthSmileLeft", "mouthSmileRight", "cheekPuff"),
            _mean(rig, "mouthPucker", "mouthFunnel", "mouthPressLeft", "mouthPressRight"),
        ],
        dtype=np.float32,
    )
    cheeks = np.zeros(NUM_REGIONS, np.float32)
    cheeks[REGION_INDEX["cheeks"]] = 1.0
    cheeks[REGION_INDEX["nose"]] = 0.6
    return TextureControls(wrinkle, flush * (0.4 + 0.6 * cheeks)).clamped()
