"""The rig vector: the one place that names and orders the 57 floats of an animation frame.

Layout (DESIGN.md contract): the 52 ARKit blendshape weights in Apple's order, then head
rotation (pitch, yaw, roll; radians), then gaze (yaw, pitch; radians). Every other module
imports these constants instead of spelling out numbers.

Signs: head pitch > 0 nods the chin down, yaw > 0 turns the face towards the avatar's own
left, roll > 0 tilts the top of the head towards the avatar's left shoulder. Gaze yaw > 0
looks towards the avatar's left, gaze pitch > 0 looks up.
"""

from collections.abc import Mapping

import numpy as np

from app.errors import LivefaceError

# Apple's ARFaceAnchor.BlendShapeLocation order, as ARKit-based tools stream it.
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
HEAD_NAMES: tuple[str, ...] = ("headPitch", "headYaw", "headRoll")
GAZE_NAMES: tuple[str, ...] = ("gazeYaw", "gazePitch")
RIG_NAMES: tuple[str, ...] = ARKIT_NAMES + HEAD_NAMES + GAZE_NAMES

NUM_BLENDSHAPES = len(ARKIT_NAMES)
RIG_SIZE = len(RIG_NAMES)
BLENDSHAPE_SLICE = slice(0, NUM_BLENDSHAPES)
HEAD_SLICE = slice(NUM_BLENDSHAPES, NUM_BLENDSHAPES + len(HEAD_NAMES))
GAZE_SLICE = slice(HEAD_SLICE.stop, RIG_SIZE)
RIG_INDEX: dict[str, int] = {name: i for i, name in enumerate(RIG_NAMES)}

# Ranges a face can plausibly reach; values outside are clamped, never rejected.
_HEAD_RANGE_RAD = {"headPitch": (-0.7, 0.7), "headYaw": (-1.2, 1.2), "headRoll": (-0.6, 0.6)}
_GAZE_RANGE_RAD = {"gazeYaw": (-0.6, 0.6), "gazePitch": (-0.5, 0.5)}
RIG_MIN = np.array(
    [0.0] * NUM_BLENDSHAPES
    + [_HEAD_RANGE_RAD[n][0] for n in HEAD_NAMES]
    + [_GAZE_RANGE_RAD[n][0] for n in GAZE_NAMES],
    dtype=np.float32,
)
RIG_MAX = np.array(
    [1.0] * NUM_BLENDSHAPES
    + [_HEAD_RANGE_RAD[n][1] for n in HEAD_NAMES]
    + [_GAZE_RANGE_RAD[n][1] for n in GAZE_NAMES],
    dtype=np.float32,
)

assert NUM_BLENDSHAPES == 52 and RIG_SIZE == 57 and len(set(RIG_NAMES)) == RIG_SIZE


def neutral_rig() -> np.ndarray:
    """The rest face: all weights zero, head straight, eyes looking ahead."""
    return np.zeros(RIG_SIZE, dtype=np.float32)


def clamp_rig(rig: np.ndarray) -> np.ndarray:
    """A copy of `rig` that is safe to render.

    Wrong shapes are a `LivefaceError`; NaN and infinite entries fall back to neutral and
    every value is clipped into its range, so a glitching producer never breaks a frame.
    """
    values = np.asarray(rig, dtype=np.float32)
    if values.shape != (RIG_SIZE,):
        raise LivefaceError(
            f"a rig vector has {RIG_SIZE} floats ({NUM_BLENDSHAPES} ARKit weights, head "
            f"pitch/yaw/roll, gaze yaw/pitch); got an array of shape {values.shape}."
        )
    values = np.where(np.isfinite(values), values, neutral_rig())
    return np.clip(values, RIG_MIN, RIG_MAX)


def rig_from_weights(weights: Mapping[str, float]) -> np.ndarray:
    """A rig vector from named values (ARKit names, headPitch, gazeYaw, ...); others neutral."""
    rig = neutral_rig()
    for name, value in weights.items():
        if name not in RIG_INDEX:
            raise LivefaceError(
                f"'{name}' is not a rig control; the controls are the 52 ARKit blendshape "
                f"names plus {', '.join(HEAD_NAMES + GAZE_NAMES)}."
            )
        rig[RIG_INDEX[name]] = value
    return rig


def rig_to_weights(rig: np.ndarray) -> dict[str, float]:
    """Named values of a rig vector, in rig order."""
    return {name: float(value) for name, value in zip(RIG_NAMES, clamp_rig(rig))}
