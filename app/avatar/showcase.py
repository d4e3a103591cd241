"""The expression showcase: a scripted tour of everything the rig can do.

Neutral, then each of the 52 ARKit blendshapes rising and falling, the emotions, blinks,
gaze shifts and head turns. It is the main job until a model drives the face, and a
visual check of any avatar. Pure data: a list of keyframes sampled at any time.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from app.avatar.emotions import EMOTIONS, emotion_flush, emotion_rig
from app.avatar.rig import ARKIT_NAMES, neutral_rig, rig_from_weights
from app.avatar.texture_controls import TextureControls, texture_controls_from_rig

_RISE_S = 0.25  # time to reach a pose
_HOLD_S = 0.25  # time spent at the pose
_EMOTION_HOLD_S = 0.8
_SACCADE_S = 0.05  # eyes jump: real saccades take 30-80 ms
_BLINK_S = 0.08  # lids close in about 80 ms and reopen as fast


@dataclass(frozen=True)
class Keyframe:
    time_s: float
    rig: np.ndarray  # (RIG_SIZE,)
    flush: float
    label: str


@dataclass(frozen=True)
class ShowcaseFrame:
    rig: np.ndarray
    texture: TextureControls
    label: str


class _Script:
    """Appends poses one after another; each pose eases in and holds."""

    def __init__(self) -> None:
        self.keys: list[Keyframe] = [Keyframe(0.0, neutral_rig(), 0.0, "neutral")]

    @property
    def end_s(self) -> float:
        return self.keys[-1].time_s

    def to(self, rig: np.ndarray, label: str, rise_s: float, hold_s: float, flush=0.0):
        self.keys.append(Keyframe(self.end_s + rise_s, rig, flush, label))
        self.keys.append(Keyframe(self.end_s + hold_s, rig, flush, label))

    def pulse(self, rig: np.ndarray, label: str, rise_s=_RISE_S, hold_s=_HOLD_S, flush=0.0):
        """Go to a pose and back to neutral."""
        self.to(rig, label, rise_s, hold_s, flush)
        self.to(neutral_rig(), label, rise_s, 0.0)


def _script() -> list[Keyframe]:
    script = _Script()
    script.to(neutral_rig(), "neutral", 0.0, 1.0)
    for name in ARKIT_NAMES:
        script.pulse(rig_from_weights({name: 1.0}), name)
    for emotion in EMOTIONS[1:]:
        script.pulse(emotion_rig(emotion), emotion, 0.35, _EMOTION_HOLD_S, emotion_flush(emotion))
    for _ in range(3):
        blink = rig_from_weights({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0})
        script.pulse(blink, "blink", _BLINK_S, 0.02)
        script.to(neutral_rig(), "blink", 0.0, 0.5)
    for yaw, pitch, where in ((0.4, 0, "left"), (-0.4, 0, "right"), (0, 0.3, "up"), (0, -0.3, "down")):
        gaze = rig_from_weights({"gazeYaw": yaw, "gazePitch": pitch})
        script.to(gaze, f"gaze {where}", _SACCADE_S, 0.5)
    script.to(neutral_rig(), "gaze ahead", _SACCADE_S, 0.5)
    for name, value, label in (
        ("headYaw", 0.5, "turn left"), ("headYaw", -0.5, "turn right"),
        ("headPitch", 0.3, "nod down"), ("headPitch", -0.25, "look up"),
        ("headRoll", 0.25, "tilt left"), ("headRoll", -0.25, "tilt right"),
    ):
        script.pulse(rig_from_weights({name: value}), label, 0.5, 0.3)
    script.to(neutral_rig(), "neutral", 0.0, 0.5)
    return script.keys


KEYFRAMES: tuple[Keyframe, ...] = tuple(_script())
DURATION_S: float = KEYFRAMES[-1].time_s


def _ease(x: float) -> float:
    """Smoothstep: zero velocity at both ends, as facial motion starts and stops."""
    return x * x * (3.0 - 2.0 * x)


def sample(time_s: float) -> ShowcaseFrame:
    """The showcase face at a time, eased between the surrounding keyframes."""
    times = [k.time_s for k in KEYFRAMES]
    i = int(np.searchsorted(times, np.clip(time_s, 0.0, DURATION_S), side="right"))
    before, after = KEYFRAMES[max(i - 1, 0)], KEYFRAMES[min(i, len(KEYFRAMES) - 1)]
    span = after.time_s - before.time_s
    w = _ease((time_s - before.time_s) / span) if span > 0 else 1.0
    rig = (1.0 - w) * before.rig + w * after.rig
    flush = (1.0 - w) * before.flush + w * after.flush
    label = after.label if w > 0.0 else before.label
    return ShowcaseFrame(rig.astype(np.float32), texture_controls_from_rig(rig, flush), label)


def showcase_frames(fps: float, frames: int | None = None) -> Iterator[ShowcaseFrame]:
    """The whole showcase at `fps`, or squeezed evenly into `frames` frames when given."""
    count = frames if frames is not None else int(round(DURATION_S * fps)) + 1
    for index in range(count):
        yield sample(DURATION_S * index / max(count - 1, 1))
