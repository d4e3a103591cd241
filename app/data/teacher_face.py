"""The rest of the teacher's face: blinks, gaze, head motion and brows.

Each function returns one component as a plain array over frames and takes its own random
generator, so components stay independent and a clip is reproducible from its seed.
Magnitudes follow what conversation studies report: ~15-20 blinks a minute (more at phrase
ends), fixations of 0.5-3 s separated by small saccades, gaze aversion mostly while
speaking, head nods of a few degrees on stressed syllables.
"""

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.data.teacher_prosody import smooth

_BLINK_CLOSE_S = 0.08  # eyelids close fast
_BLINK_MIN_GAP_S = 0.6  # nobody blinks twice within this


def _bump(frames: int, centre_s: float, rise_s: float, fall_s: float) -> np.ndarray:
    """A 0..1 raised-cosine bump peaking at `centre_s` (frames,)."""
    t = np.arange(frames) / FRAME_RATE_HZ - centre_s
    up = np.clip(1.0 + t / rise_s, 0.0, 1.0)
    down = np.clip(1.0 - t / fall_s, 0.0, 1.0)
    phase = np.where(t < 0, up, down)
    return (0.5 - 0.5 * np.cos(np.pi * phase)).astype(np.float32)


def blink_times(duration_s: float, rng: np.random.Generator, rate_per_min: float,
                phrase_ends_s: list[float]) -> list[float]:
    """Blink onsets: a Poisson process at `rate_per_min`, plus a likely blink shortly after
    each phrase end; onsets closer than 0.6 s to an earlier one are dropped."""
    count = rng.poisson(rate_per_min / 60.0 * duration_s)
    onsets = list(rng.uniform(0.0, duration_s, count))
    onsets += [t + rng.uniform(0.05, 0.25) for t in phrase_ends_s if rng.random() < 0.65]
    kept: list[float] = []
    for t in sorted(onsets):
        if t < duration_s and (not kept or t - kept[-1] >= _BLINK_MIN_GAP_S):
            kept.append(float(t))
    return kept


def blinks(frames: int, onsets_s: list[float], open_s: float) -> np.ndarray:
    """Eyelid closure 0..1 per frame: each blink closes in ~80 ms and reopens in `open_s`."""
    lid = np.zeros(frames, dtype=np.float32)
    for onset in onsets_s:
        lid = np.maximum(lid, _bump(frames, onset + _BLINK_CLOSE_S, _BLINK_CLOSE_S, open_s))
    return lid


def gaze(frames: int, rng: np.random.Generator, speaking: np.ndarray,
         amount: float) -> np.ndarray:
    """Gaze (yaw, pitch) in radians per frame: fixations of 0.5-3 s joined by saccades of
    ~40 ms. While speaking, half the fixations look away (sideways and a little up or
    down); otherwise they stay near the listener."""
    out = np.zeros((frames, 2), dtype=np.float32)
    start, current = 0, np.zeros(2)
    while start < frames:
        talking = bool(speaking[start])
        length = int(rng.uniform(0.5, 3.0 if not talking else 2.0) * FRAME_RATE_HZ)
        if talking and rng.random() < 0.5:
            side = rng.choice([-1.0, 1.0])
            target = np.array([side * rng.uniform(0.08, 0.2), rng.uniform(-0.08, 0.1)])
        else:
            target = rng.normal(0.0, [0.03, 0.02])
        target *= amount
        end = min(start + length, frames)
        saccade = min(2, end - start)
        for k in range(saccade):  # a saccade takes ~2 frames
            out[start + k] = current + (target - current) * (k + 1) / (saccade + 1)
        out[start + saccade:end] = target
        current, start = target, end
    return out


def drift(frames: int, rng: np.random.Generator, scale: float, sigma_frames: float) -> np.ndarray:
    """Smooth random motion (frames,) with about `scale` standard deviation."""
    noise = smooth(rng.normal(0.0, 1.0, frames + 1).astype(np.float32), sigma_frames)[:frames]
    spread = float(np.std(noise)) if frames > 1 else 1.0
    return noise / max(spread, 1e-6) * scale


def stress_bumps(frames: int, rng: np.random.Generator, stressed_s: list[float],
                 probability: float, rise_s: float, fall_s: float) -> np.ndarray:
    """Sum of bumps (frames,) at a random subset of stressed syllables, random heights."""
    out = np.zeros(frames, dtype=np.float32)
    for t in stressed_s:
        if rng.random() < probability:
            out += rng.uniform(0.6, 1.0) * _bump(frames, t, rise_s, fall_s)
    return np.minimum(out, 1.5)


def head_motion(frames: int, rng: np.random.Generator, stressed_s: list[float],
                pitch: np.ndarray, speaking: np.ndarray, amount: float) -> np.ndarray:
    """Head (pitch, yaw, roll) in radians per frame: slow idle drift (more while
    speaking), nods (chin down) on stressed syllables and a slight lift on high pitch."""
    activity = 0.6 + 0.6 * smooth(speaking.astype(np.float32), 10.0)
    nods = stress_bumps(frames, rng, stressed_s, 0.6, 0.12, 0.3) * 0.045
    lift = -0.025 * smooth(np.clip(pitch, -2.0, 2.0), 4.0)
    head = np.stack([
        drift(frames, rng, 0.02, 25.0) * activity + nods + lift,
        drift(frames, rng, 0.035, 35.0) * activity,
        drift(frames, rng, 0.015, 30.0) * activity,
    ], axis=1)
    return (head * amount).astype(np.float32)


def brow_raise(frames: int, rng: np.random.Generator, stressed_s: list[float],
               pitch: np.ndarray, amount: float) -> np.ndarray:
    """Brow raise 0..1 per frame from stressed syllables and pitch peaks."""
    accents = stress_bumps(frames, rng, stressed_s, 0.35, 0.1, 0.35) * 0.45
    peaks = 0.25 * smooth(np.clip(pitch - 0.5, 0.0, 2.0), 3.0)
    return np.clip((accents + peaks) * amount, 0.0, 1.0).astype(np.float32)
