"""The eight emotions of the contract and the face each one makes at full intensity.

Poses are sparse ARKit weights chosen from the facial action units that describe each
emotion (e.g. happiness: cheek raiser + lip corner puller; sadness: inner brow raiser +
brow lowerer + lip corner depressor), plus a flush that the skin shader shows. Intensity
scales them linearly; 0 is the neutral face.
"""

import numpy as np

from app.avatar.rig import rig_from_weights
from app.errors import LivefaceError

EMOTIONS: tuple[str, ...] = (
    "neutral", "happy", "sad", "angry", "surprised", "disgusted", "fearful", "contemptuous",
)

_POSES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {
        "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8, "cheekSquintLeft": 0.5,
        "cheekSquintRight": 0.5, "eyeSquintLeft": 0.3, "eyeSquintRight": 0.3,
        "jawOpen": 0.1, "mouthUpperUpLeft": 0.2, "mouthUpperUpRight": 0.2,
    },
    "sad": {
        "browInnerUp": 0.8, "browDownLeft": 0.3, "browDownRight": 0.3,
        "mouthFrownLeft": 0.7, "mouthFrownRight": 0.7, "mouthShrugLower": 0.4,
        "eyeSquintLeft": 0.2, "eyeSquintRight": 0.2, "headPitch": 0.12,
    },
    "angry": {
        "browDownLeft": 0.9, "browDownRight": 0.9, "eyeSquintLeft": 0.4,
        "eyeSquintRight": 0.4, "noseSneerLeft": 0.4, "noseSneerRight": 0.4,
        "mouthPressLeft": 0.5, "mouthPressRight": 0.5, "jawForward": 0.2,
    },
    "surprised": {
        "browInnerUp": 0.9, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8,
        "eyeWideLeft": 0.8, "eyeWideRight": 0.8, "jawOpen": 0.45, "mouthFunnel": 0.2,
        "headPitch": -0.06,
    },
    "disgusted": {
        "noseSneerLeft": 0.8, "noseSneerRight": 0.8, "mouthUpperUpLeft": 0.6,
        "mouthUpperUpRight": 0.6, "browDownLeft": 0.5, "browDownRight": 0.5,
        "cheekSquintLeft": 0.4, "cheekSquintRight": 0.4, "mouthShrugLower": 0.3,
    },
    "fearful": {
        "browInnerUp": 0.9, "browOuterUpLeft": 0.4, "browOuterUpRight": 0.4,
        "eyeWideLeft": 0.9, "eyeWideRight": 0.9, "mouthStretchLeft": 0.6,
        "mouthStretchRight": 0.6, "jawOpen": 0.2, "headPitch": 0.05,
    },
    "contemptuous": {
        "mouthSmileLeft": 0.5, "mouthDimpleLeft": 0.5, "mouthPressRight": 0.2,
        "eyeSquintLeft": 0.2, "browDownRight": 0.2, "headYaw": -0.08, "headRoll": 0.05,
    },
}

# How much each emotion reddens the face (skin flush), at full intensity.
_FLUSH = {"angry": 0.8, "happy": 0.3, "surprised": 0.1, "fearful": 0.0, "disgusted": 0.2}


def check_emotion(emotion: str, intensity: float) -> None:
    if emotion not in EMOTIONS:
        raise LivefaceError(f"unknown emotion '{emotion}'; choose one of {', '.join(EMOTIONS)}.")
    if not 0.0 <= intensity <= 1.0:
        raise LivefaceError(f"emotion intensity must be within 0..1, got {intensity}.")


def emotion_rig(emotion: str, intensity: float = 1.0) -> np.ndarray:
    """The rig vector of an emotion's face at an intensity in 0..1."""
    check_emotion(emotion, intensity)
    return rig_from_weights(_POSES[emotion]) * np.float32(intensity)


def emotion_flush(emotion: str, intensity: float = 1.0) -> float:
    """How flushed the skin is for an emotion at an intensity in 0..1."""
    check_emotion(emotion, intensity)
    return _FLUSH.get(emotion, 0.0) * intensity
