"""The procedural teacher: a phone timeline plus its audio become a 50 fps rig track.

    track = mouth(visemes, coarticulation, loudness)     teacher_mouth
          + blinks, gaze, head, brows (pitch, stress)    teacher_face, teacher_prosody
          + emotion (static face + changed dynamics)
          then lip closures enforced on the mesh         teacher_mouth.enforce_closure

A `Style` drawn per clip (articulation, jaw, expressiveness, blinks, head motion, lip
rounding) makes the data one-to-many: the same speech animates differently per seed, as
different speakers would. The teacher sees the whole clip (it is not on the live path).
Everything is deterministic for a seed, and every frame is already inside the rig ranges.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np

from app import resources
from app.audio.contract import SAMPLE_RATE_HZ
from app.avatar.emotions import check_emotion, emotion_rig
from app.avatar.gltf import load_avatar
from app.avatar.landmarks import FaceGeometry
from app.avatar.rig import GAZE_SLICE, HEAD_SLICE, RIG_INDEX, RIG_MAX, RIG_MIN, RIG_SIZE
from app.data import teacher_face as face
from app.data import teacher_mouth as mouth
from app.data import teacher_prosody as prosody
from app.data.timeline import Timeline
from app.data.visemes import LIP_CHANNELS, VOWEL_VISEMES, is_bilabial, is_labiodental
from app.errors import LivefaceError

BILABIAL_GAP_MM = -0.5  # p/b/m: lips pressed, gap at most this on the default mesh
LABIODENTAL_GAP_MM = 2.5  # f/v: lower lip up against the upper teeth, lips just parted
PAUSE_GAP_MM = 0.5  # long pauses: lips at rest, touching
_BLINK_OPEN_S = 0.17


@dataclass(frozen=True)
class Style:
    """How one clip's speaker moves; `draw` picks one from a seed."""

    articulation: float = 1.0  # scale of lip shapes
    jaw_scale: float = 1.0  # scale of jaw opening on vowels
    expressiveness: float = 1.0  # brows and emotion dynamics
    blink_rate_per_min: float = 17.0
    head_motion: float = 1.0
    lip_rounding: float = 1.0

    @classmethod
    def draw(cls, seed: int) -> "Style":
        rng = np.random.default_rng([seed, 0x57])
        return cls(
            articulation=float(rng.uniform(0.8, 1.2)),
            jaw_scale=float(rng.uniform(0.8, 1.25)),
            expressiveness=float(rng.uniform(0.6, 1.4)),
            blink_rate_per_min=float(rng.uniform(13.0, 22.0)),
            head_motion=float(rng.uniform(0.5, 1.5)),
            lip_rounding=float(rng.uniform(0.8, 1.25)),
        )


@dataclass(frozen=True)
class EmotionDynamics:
    """How an emotion changes motion, as gains on the neutral dynamics (1 = unchanged)."""

    jaw: float = 1.0
    articulation: float = 1.0
    spread: float = 1.0  # coarticulation time constants; < 1 is sharper articulation
    brows: float = 1.0
    head: float = 1.0
    blink_rate: float = 1.0
    blink_open: float = 1.0  # reopening time of a blink

    def at(self, intensity: float) -> "EmotionDynamics":
        """The gains at an intensity in 0..1, interpolated from neutral."""
        return EmotionDynamics(**{k: 1.0 + intensity * (v - 1.0) for k, v in vars(self).items()})


EMOTION_DYNAMICS: dict[str, EmotionDynamics] = {
    "neutral": EmotionDynamics(),
    "happy": EmotionDynamics(jaw=1.1, articulation=1.05, brows=1.5, head=1.35, blink_rate=1.1),
    "sad": EmotionDynamics(jaw=0.7, articulation=0.8, spread=1.2, brows=0.7, head=0.6,
                           blink_rate=0.8, blink_open=1.6),
    "angry": EmotionDynamics(jaw=1.15, articulation=1.25, spread=0.75, brows=0.8, head=1.3),
    "surprised": EmotionDynamics(jaw=1.2, brows=1.6, head=1.1, blink_rate=0.6),
    "disgusted": EmotionDynamics(jaw=0.9, articulation=0.9, head=0.8),
    "fearful": EmotionDynamics(jaw=0.9, spread=0.9, brows=1.2, head=0.8, blink_rate=1.5,
                               blink_open=0.8),
    "contemptuous": EmotionDynamics(jaw=0.85, articulation=0.9, head=0.7, blink_rate=0.9),
}


@cache
def default_geometry() -> FaceGeometry:
    """Face measures of the shipped default avatar (loaded once)."""
    return FaceGeometry.from_avatar(load_avatar(resources.default_avatar_path()))


def animate(timeline: Timeline, audio: np.ndarray, emotion: str = "neutral",
            intensity: float = 0.0, style: Style | None = None, seed: int = 0,
            geometry: FaceGeometry | None = None) -> np.ndarray:
    """A rig track (T, 57) float32 at 50 fps for a clip, T = ceil(duration * 50).

    `audio` is the clip's 16 kHz mono waveform; its length sets the duration (an empty
    array falls back to the timeline's duration). `style` defaults to `Style.draw(seed)`;
    `geometry` (for the lip-closure check) to the default avatar.
    """
    check_emotion(emotion, intensity)
    audio = _checked_audio(audio)
    duration_s = len(audio) / SAMPLE_RATE_HZ if len(audio) else _timeline_duration(timeline)
    frames = prosody.frame_count(duration_s)
    if frames == 0:
        return np.zeros((0, RIG_SIZE), dtype=np.float32)
    style = style or Style.draw(seed)
    dyn = EMOTION_DYNAMICS[emotion].at(intensity)
    rngs = [np.random.default_rng([seed, k]) for k in range(5)]
    segs = mouth.segments(timeline, duration_s)
    loud = prosody.loudness(audio, frames)
    pitch = prosody.pitch_z(prosody.pitch_hz(audio, frames))

    track = mouth.mouth_track(segs, frames, loud, style.articulation * dyn.articulation,
                              style.jaw_scale * dyn.jaw, style.lip_rounding, dyn.spread)
    relax = mouth.pause_relax(segs, frames)
    track *= (1.0 - relax)[:, None]
    track = prosody.smooth(track, 0.8)
    speaking = _speaking(segs, frames)
    stressed = [0.5 * (s.start_s + s.end_s) for s in segs
                if s.stress == 1 and s.viseme in VOWEL_VISEMES]
    _add_face(track, rngs, segs, frames, duration_s, style, dyn, speaking, stressed, pitch)
    _add_emotion(track, emotion, intensity, speaking)
    track = np.clip(track, RIG_MIN, RIG_MAX)

    geometry = geometry or default_geometry()
    for chosen, gap_mm in ((is_bilabial, BILABIAL_GAP_MM), (is_labiodental, LABIODENTAL_GAP_MM)):
        track = mouth.enforce_closure(track, mouth.phone_frames(segs, frames, chosen), gap_mm,
                                      geometry)
    track = mouth.enforce_closure(track, relax >= 0.99, PAUSE_GAP_MM, geometry)
    return np.clip(track, RIG_MIN, RIG_MAX).astype(np.float32)


def _checked_audio(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise LivefaceError(
            f"the teacher needs mono audio (one channel); got shape {samples.shape}.")
    if not np.isfinite(samples).all():
        raise LivefaceError("the audio contains NaN or infinite samples; decode it again.")
    return samples


def _timeline_duration(timeline: Timeline) -> float:
    ends = [p.end_s for p in timeline.phones]
    return max([timeline.duration_s] + ends)


def _speaking(segs: list[mouth.Segment], frames: int) -> np.ndarray:
    times = mouth.frame_times(frames)
    speaking = np.zeros(frames, dtype=bool)
    for seg in segs:
        if seg.viseme != "sil":
            speaking |= (times >= seg.start_s) & (times < seg.end_s)
    return speaking


def _add_face(track, rngs, segs, frames, duration_s, style, dyn, speaking, stressed, pitch):
    """Blinks, gaze, head and brows, added in place."""
    phrase_ends = [start for start, _ in mouth.long_pauses(segs) if start > 0]
    onsets = face.blink_times(duration_s, rngs[0], style.blink_rate_per_min * dyn.blink_rate,
                              phrase_ends)
    lid = face.blinks(frames, onsets, _BLINK_OPEN_S * dyn.blink_open)
    track[:, RIG_INDEX["eyeBlinkLeft"]] += lid
    track[:, RIG_INDEX["eyeBlinkRight"]] += lid * 0.97
    track[:, GAZE_SLICE] += face.gaze(frames, rngs[1], speaking, 1.0)
    track[:, HEAD_SLICE] += face.head_motion(frames, rngs[2], stressed, pitch, speaking,
                                             style.head_motion * dyn.head)
    brows = face.brow_raise(frames, rngs[3], stressed, pitch, style.expressiveness * dyn.brows)
    track[:, RIG_INDEX["browInnerUp"]] += brows
    track[:, RIG_INDEX["browOuterUpLeft"]] += brows * 0.8
    track[:, RIG_INDEX["browOuterUpRight"]] += brows * 0.8


def _add_emotion(track: np.ndarray, emotion: str, intensity: float, speaking: np.ndarray):
    """The emotion's static face, added in place; its mouth yields a third to speech."""
    pose = emotion_rig(emotion, intensity)
    mouth_share = 1.0 - 0.33 * prosody.smooth(speaking.astype(np.float32), 5.0)
    mouth_pose = np.zeros_like(pose)
    mouth_pose[LIP_CHANNELS] = pose[LIP_CHANNELS]
    mouth_pose[RIG_INDEX["jawOpen"]] = pose[RIG_INDEX["jawOpen"]]
    track += pose - mouth_pose
    track += mouth_share[:, None] * mouth_pose[None]

