"""A face track in the CSV layout the Live Link Face iPhone app records (`liveface animate
--format livelink-csv`), for tools that import its takes (Unreal's Live Link Face importer,
Blender and Maya add-ons).

Columns: `Timecode`, `BlendShapeCount` (61), the 52 ARKit curves capitalised in the app's
own order (it puts JawRight before JawLeft and MouthRight before MouthLeft, unlike Apple's
list), then HeadYaw, HeadPitch, HeadRoll and yaw, pitch, roll for each eye.

Values: the curves are the rig's weights (0..1). Head and eye angles are the rig's, in
radians with the rig's signs (README, "The rig vector": head pitch > 0 nods down, yaw > 0
turns to the avatar's left, roll > 0 tilts to its left shoulder; gaze yaw > 0 looks to the
avatar's left, pitch > 0 up): no conversion is made, and the app's own sign conventions
have not been compared with a recording. The rig has one gaze for both eyes, so both eyes
get it; it has no eye roll, so LeftEyeRoll and RightEyeRoll are written as 0.

Timecode: HH:MM:SS:FF.fff at the track's 50 frames a second, counted from 00:00:00:00; row
i is animation frame i, so FF runs 0..49 and the sub-frame part is always .000.
"""

import csv

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.rig import RIG_INDEX

LIVELINK_CURVES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft",
    "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight",
    "EyeLookUpRight", "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawRight", "JawLeft", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight",
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight",
    "NoseSneerLeft", "NoseSneerRight",
    "TongueOut",
)
LIVELINK_ANGLES: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
LIVELINK_COLUMNS: tuple[str, ...] = ("Timecode", "BlendShapeCount",
                                     *LIVELINK_CURVES, *LIVELINK_ANGLES)
BLEND_SHAPE_COUNT = len(LIVELINK_CURVES) + len(LIVELINK_ANGLES)  # 61, as the app writes

# Where each value column comes from in the rig; None: the rig has no such value (0).
_SOURCES: tuple[str | None, ...] = (
    *(name[0].lower() + name[1:] for name in LIVELINK_CURVES),
    "headYaw", "headPitch", "headRoll",
    "gazeYaw", "gazePitch", None,
    "gazeYaw", "gazePitch", None,
)
assert BLEND_SHAPE_COUNT == 61 and all(s is None or s in RIG_INDEX for s in _SOURCES)
DECIMALS = 6


def timecode(frame: int, fps: int = FRAME_RATE_HZ) -> str:
    """'HH:MM:SS:FF.fff' for a frame counted from zero at `fps` frames a second."""
    seconds, frames = divmod(frame, fps)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frames:02d}.000"


def livelink_values(rig: np.ndarray) -> np.ndarray:
    """(frames, 61): a (frames, RIG_SIZE) rig track in the value columns' order."""
    rig = np.asarray(rig, np.float32)
    values = np.zeros((rig.shape[0], BLEND_SHAPE_COUNT), np.float32)
    for column, source in enumerate(_SOURCES):
        if source is not None:
            values[:, column] = rig[:, RIG_INDEX[source]]
    return values


def write_livelink_csv(rig: np.ndarray, file) -> None:
    """Write the header and one row per frame of `rig` (frames, RIG_SIZE) to an open text
    file (opened with newline="")."""
    writer = csv.writer(file)
    writer.writerow(LIVELINK_COLUMNS)
    for frame, values in enumerate(np.round(livelink_values(rig), DECIMALS).tolist()):
        writer.writerow([timecode(frame), BLEND_SHAPE_COUNT, *values])
