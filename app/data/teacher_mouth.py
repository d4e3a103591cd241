"""The speaking mouth of the teacher: coarticulated visemes, loudness-scaled jaw, rest in
pauses, and lip closures that really close.

Coarticulation blends viseme targets with Cohen-Massaro dominance functions, separately
for lips and jaw (JALI): at every frame each channel group is the dominance-weighted mean
of all segments' targets,

    x(t) = sum_i D_i(t) T_i / sum_i D_i(t),
    D_i(t) = a_i                          inside segment i,
           = a_i exp(-(start_i - t) / s_ant)   before it (anticipation),
           = a_i exp(-(t - end_i) / s_carry)   after it (carry-over).

Blending alone cannot guarantee that p/b/m close, so the final step measures the lip gap
on the avatar mesh and raises mouthClose where it must (`enforce_closure`).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.landmarks import FaceGeometry
from app.avatar.rig import RIG_INDEX, RIG_SIZE
from app.data.timeline import SILENCE, Timeline
from app.data.visemes import (
    COARTICULATION,
    JAW_CHANNELS,
    LIP_CHANNELS,
    phone_visemes,
    viseme_rig,
)

LONG_PAUSE_S = 0.2  # pauses at least this long relax the mouth to rest
_RELAX_DELAY_S = 0.04  # how far from speech the mouth starts relaxing in a pause
_RELAX_RAMP_S = 0.06  # and how long it takes to reach rest (100 ms from speech)
_ROUNDING = np.array([RIG_INDEX["mouthPucker"], RIG_INDEX["mouthFunnel"]])
_CLOSE = RIG_INDEX["mouthClose"]


@dataclass(frozen=True)
class Segment:
    """A stretch of time with one viseme: a phone, half a diphthong, or silence."""

    start_s: float
    end_s: float
    viseme: str
    phone: str
    stress: int = 0


def frame_times(frames: int) -> np.ndarray:
    """Centre time of each frame, seconds."""
    return (np.arange(frames) + 0.5) / FRAME_RATE_HZ


def segments(timeline: Timeline, duration_s: float) -> list[Segment]:
    """The timeline as viseme segments covering [0, duration]; gaps become silence and
    diphthongs split in two halves."""
    out: list[Segment] = []
    cursor = 0.0
    for phone in sorted(timeline.phones, key=lambda p: p.start_s):
        start, end = max(phone.start_s, cursor), min(phone.end_s, duration_s)
        if end <= start:
            continue
        if start > cursor:
            out.append(Segment(cursor, start, "sil", SILENCE))
        visemes = phone_visemes(phone.phone) if phone.phone != SILENCE else ("sil",)
        edges = np.linspace(start, end, len(visemes) + 1)
        out += [Segment(float(a), float(b), v, phone.phone, phone.stress)
                for a, b, v in zip(edges[:-1], edges[1:], visemes)]
        cursor = end
    if cursor < duration_s:
        out.append(Segment(cursor, duration_s, "sil", SILENCE))
    return out


def _dominance(segs: list[Segment], times: np.ndarray, group: str, spread: float) -> np.ndarray:
    """(T, N) dominance of every segment at every frame for the 'lip' or 'jaw' group."""
    params = [COARTICULATION[s.viseme] for s in segs]
    alpha = np.array([getattr(p, f"{group}_dominance") for p in params])
    ant = np.array([p.anticipation_s for p in params]) * spread
    carry = np.array([p.carryover_s for p in params]) * spread
    start = np.array([s.start_s for s in segs])
    end = np.array([s.end_s for s in segs])
    before = np.clip(start[None] - times[:, None], 0.0, None)
    after = np.clip(times[:, None] - end[None], 0.0, None)
    return alpha[None] * np.exp(-before / ant[None] - after / carry[None])


def _blend(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    return (weights @ values) / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)


def mouth_track(segs: list[Segment], frames: int, loud: np.ndarray, articulation: float,
                jaw_scale: float, rounding: float, spread: float) -> np.ndarray:
    """Mouth and jaw weights (frames, 57) from coarticulated visemes.

    `loud` (frames,) scales the jaw of deformable visemes; `articulation` scales the lip
    shapes, `rounding` pucker and funnel on top, `spread` the dominance time constants
    (below 1: crisper, more separated articulation).
    """
    times = frame_times(frames)
    targets = np.stack([viseme_rig(s.viseme) for s in segs])
    lip_w = _dominance(segs, times, "lip", spread)
    jaw_w = _dominance(segs, times, "jaw", spread)
    track = np.zeros((frames, RIG_SIZE), dtype=np.float32)
    track[:, LIP_CHANNELS] = _blend(lip_w, targets[:, LIP_CHANNELS]) * articulation
    track[:, _ROUNDING] *= rounding
    deform = _blend(jaw_w, np.array([[COARTICULATION[s.viseme].deformability] for s in segs]))
    gain = jaw_scale * (0.55 + 0.6 * loud)
    track[:, JAW_CHANNELS] = _blend(jaw_w, targets[:, JAW_CHANNELS]) * (
        1.0 + deform * (gain - 1.0)[:, None])
    return track


def pause_relax(segs: list[Segment], frames: int) -> np.ndarray:
    """0..1 per frame: how far the mouth has relaxed to rest inside long pauses."""
    times = frame_times(frames)
    relax = np.zeros(frames, dtype=np.float32)
    clip_end = segs[-1].end_s if segs else 0.0
    for start, end in long_pauses(segs):
        # Distance to the nearest speech; a clip edge has no speech beyond it.
        after_speech = times - start if start > 0 else np.inf
        before_speech = end - times if end < clip_end else np.inf
        distance = np.minimum(after_speech, before_speech)
        ramp = np.clip((distance - _RELAX_DELAY_S) / _RELAX_RAMP_S, 0.0, 1.0)
        ramp[(times < start) | (times >= end)] = 0.0
        relax = np.maximum(relax, ramp)
    return relax


def long_pauses(segs: list[Segment]) -> list[tuple[float, float]]:
    """(start, end) of runs of silence lasting at least LONG_PAUSE_S."""
    runs: list[list[float]] = []
    for seg in segs:
        if seg.viseme != "sil":
            continue
        if runs and abs(runs[-1][1] - seg.start_s) < 1e-6:
            runs[-1][1] = seg.end_s
        else:
            runs.append([seg.start_s, seg.end_s])
    return [(a, b) for a, b in runs if b - a >= LONG_PAUSE_S]


def phone_frames(segs: list[Segment], frames: int,
                 chosen: Callable[[str], bool]) -> np.ndarray:
    """Frames whose centre lies in a segment of a chosen phone, plus each such segment's
    middle frame (so even a very short p still gets one)."""
    times = frame_times(frames)
    mask = np.zeros(frames, dtype=bool)
    for seg in segs:
        if chosen(seg.phone):
            mask |= (times >= seg.start_s) & (times < seg.end_s)
            middle = int((seg.start_s + seg.end_s) / 2 * FRAME_RATE_HZ)
            mask[min(max(middle, 0), frames - 1)] = True
    return mask


def enforce_closure(track: np.ndarray, mask: np.ndarray, target_gap_mm: float,
                    geometry: FaceGeometry) -> np.ndarray:
    """Raise mouthClose on `mask` frames until the lip gap is at most `target_gap_mm`,
    and half as much on the frames next to them so the lips approach smoothly."""
    if not mask.any():
        return track
    probe = np.zeros((2, RIG_SIZE), dtype=np.float32)
    probe[1, _CLOSE] = 0.1
    per_unit_mm = float(np.subtract(*geometry.lip_gap_mm(probe))) / 0.1  # gap closed per unit
    out = track.copy()
    frames = np.flatnonzero(mask)
    extra = np.zeros(len(track), dtype=np.float32)
    for _ in range(4):  # the gap is piecewise linear in the weights; a few steps converge
        excess = geometry.lip_gap_mm(out[frames]) - target_gap_mm
        step = np.clip(excess, 0.0, None) / max(per_unit_mm, 1e-6)
        if not step.any():
            break
        extra[frames] += step
        out[frames, _CLOSE] = np.minimum(out[frames, _CLOSE] + step, 1.0)
    taper = np.zeros_like(extra)
    taper[1:] = extra[:-1] * 0.5
    taper[:-1] = np.maximum(taper[:-1], extra[1:] * 0.5)
    taper[mask] = 0.0
    out[:, _CLOSE] = np.minimum(out[:, _CLOSE] + taper, 1.0)
    return out

