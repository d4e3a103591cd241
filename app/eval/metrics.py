"""Evaluation metrics for talking-face rig tracks, measured on an avatar's mesh.

All metrics take rig tracks (T, 57) at 50 fps and a `FaceGeometry` (the default avatar's
for the numbers we report), pose the skin with linear blendshapes in head space (head
rotation and gaze ignored) and report millimetres. Definitions:

- **LVE** (lip vertex error): per frame, the largest L2 distance between predicted and
  reference positions over the lip vertices; averaged over frames. mm.
- **MVE** (mean vertex error): L2 distance between predicted and reference positions,
  averaged over all skin vertices and frames. mm.
- **FDD** (upper-face dynamics deviation, as CodeTalker defines it): for each upper-face
  vertex, the standard deviation over time of its displacement norm from the neutral face;
  reference minus prediction, averaged over vertices. Signed, mm: positive means the
  prediction's upper face moves less than the reference's.
- **Bilabial closure rate**: share of p/b/m phones whose smallest lip gap (centre line,
  see `FaceGeometry.lip_gap_mm`) over the frames inside the phone is under 1 mm.
- **Vowel closure rate** (false closures; lower is better): share of vowel phones whose
  smallest lip gap inside the phone is under 1 mm. A model can raise its bilabial rate by
  closing often; this shows what that costs.
- **Silence closure rate**: share of silences of at least 300 ms whose lip gap stays under
  2 mm over their middle third. The middle third, because anticipation and carry-over
  legitimately open the lips up to ~100 ms from speech (a 300 ms pause keeps its central
  100 ms); 2 mm, because relaxed lips may
  part slightly (the default head rests at ~0.2 mm) while teeth start to show at ~3 mm.
- **Lip-sync lag**: the shift in ms, a multiple of 20 within [-200, 200], that maximises
  the Pearson correlation between predicted and reference lip aperture
  (`FaceGeometry.lip_aperture_mm`); positive means the prediction is late.
- **Jitter**: mean over frames and lip vertices of the norm of the third time difference
  of positions, x[t+3] - 3 x[t+2] + 3 x[t+1] - x[t], in mm per frame³ (a jerk measure;
  smooth motion scores near 0, frame-to-frame noise scores high).

A frame belongs to a phone when its centre, (t + 0.5) / 50 s, lies inside it; a phone too
short to hold a frame centre is judged on the frame holding its midpoint.
"""

from collections.abc import Callable

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.landmarks import MM_PER_M, FaceGeometry
from app.data.timeline import SILENCE, Timeline
from app.data.visemes import is_bilabial, is_vowel
from app.errors import LivefaceError

CLOSED_GAP_MM = 1.0
SILENCE_MIN_S = 0.3
SILENCE_GAP_MM = 2.0
MAX_LAG_MS = 200.0


def lip_vertex_error_mm(pred: np.ndarray, ref: np.ndarray, geometry: FaceGeometry) -> float:
    """LVE: mean over frames of the largest lip-vertex distance, mm."""
    idx = geometry.lip_vertices
    dist = np.linalg.norm(geometry.skin_vertices(pred, idx) - geometry.skin_vertices(ref, idx),
                          axis=-1)
    return float(dist.max(axis=1).mean() * MM_PER_M)


def mean_vertex_error_mm(pred: np.ndarray, ref: np.ndarray, geometry: FaceGeometry) -> float:
    """MVE: mean distance over all skin vertices and frames, mm."""
    dist = np.linalg.norm(geometry.skin_vertices(pred) - geometry.skin_vertices(ref), axis=-1)
    return float(dist.mean() * MM_PER_M)


def upper_face_dynamics_deviation_mm(pred: np.ndarray, ref: np.ndarray,
                                     geometry: FaceGeometry) -> float:
    """FDD: mean over upper-face vertices of std_t|ref - rest| - std_t|pred - rest|, mm."""
    idx = geometry.upper_face_vertices
    rest = geometry.rest[idx]

    def motion_std(track: np.ndarray) -> np.ndarray:
        return np.linalg.norm(geometry.skin_vertices(track, idx) - rest, axis=-1).std(axis=0)

    return float((motion_std(ref) - motion_std(pred)).mean() * MM_PER_M)


def _phone_frames(start_s: float, end_s: float, frames: int) -> np.ndarray:
    centres = (np.arange(frames) + 0.5) / FRAME_RATE_HZ
    inside = np.flatnonzero((centres >= start_s) & (centres < end_s))
    if inside.size == 0:
        inside = np.array([int((start_s + end_s) / 2 * FRAME_RATE_HZ)])
    return inside[(inside >= 0) & (inside < frames)]


def bilabial_closures(track: np.ndarray, timeline: Timeline,
                      geometry: FaceGeometry) -> tuple[int, int]:
    """(closed, all) p/b/m phones; closed: the smallest lip gap inside the phone is < 1 mm."""
    return _closures(track, timeline, geometry, is_bilabial)


def vowel_closures(track: np.ndarray, timeline: Timeline,
                   geometry: FaceGeometry) -> tuple[int, int]:
    """(closed, all) vowel phones, closed as p/b/m phones are: false closures."""
    return _closures(track, timeline, geometry, is_vowel)


def _closures(track: np.ndarray, timeline: Timeline, geometry: FaceGeometry,
              chosen: Callable[[str], bool]) -> tuple[int, int]:
    gap = geometry.lip_gap_mm(track)
    closed = [bool(gap[f].min() < CLOSED_GAP_MM)
              for p in timeline.phones if chosen(p.phone)
              for f in [_phone_frames(p.start_s, p.end_s, len(track))] if f.size]
    return sum(closed), len(closed)


def bilabial_closure_rate(track: np.ndarray, timeline: Timeline,
                          geometry: FaceGeometry) -> float:
    """Share of p/b/m phones closed (NaN when the timeline has none)."""
    return _share(*bilabial_closures(track, timeline, geometry))


def _share(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def silences(timeline: Timeline, min_s: float = SILENCE_MIN_S) -> list[tuple[float, float]]:
    """(start, end) of runs of silence phones lasting at least `min_s`."""
    runs: list[list[float]] = []
    for p in sorted(timeline.phones, key=lambda p: p.start_s):
        if p.phone != SILENCE:
            continue
        if runs and p.start_s - runs[-1][1] < 1e-6:
            runs[-1][1] = max(runs[-1][1], p.end_s)
        else:
            runs.append([p.start_s, p.end_s])
    return [(a, b) for a, b in runs if b - a >= min_s]


def silence_closures(track: np.ndarray, timeline: Timeline,
                     geometry: FaceGeometry) -> tuple[int, int]:
    """(closed, all) silences >= 300 ms; closed: the lip gap stays under 2 mm over the
    middle third."""
    gap = geometry.lip_gap_mm(track)
    closed = []
    for start, end in silences(timeline):
        third = (end - start) / 3
        frames = _phone_frames(start + third, end - third, len(track))
        if frames.size:
            closed.append(bool(gap[frames].max() < SILENCE_GAP_MM))
    return sum(closed), len(closed)


def silence_closure_rate(track: np.ndarray, timeline: Timeline,
                         geometry: FaceGeometry) -> float:
    """Share of long silences closed (NaN when there are none)."""
    return _share(*silence_closures(track, timeline, geometry))


FLAT_MM = 1e-6  # a signal whose spread is below this does not move at all


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    if a.std() < FLAT_MM or b.std() < FLAT_MM:
        return 0.0  # a still face correlates with nothing (float residue is not a signal)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def lip_sync_lag_ms(pred: np.ndarray, ref: np.ndarray, geometry: FaceGeometry,
                    max_lag_ms: float = MAX_LAG_MS) -> float:
    """The shift (ms, multiple of 20) in [-max, max] maximising the correlation of
    predicted and reference lip aperture; positive = prediction late. Ties go to the
    smallest shift; flat signals give 0."""
    p, r = geometry.lip_aperture_mm(pred), geometry.lip_aperture_mm(ref)
    max_shift = min(int(max_lag_ms / 1000 * FRAME_RATE_HZ), len(p) - 2)
    best, best_corr = 0, -np.inf
    for shift in sorted(range(-max_shift, max_shift + 1), key=abs):
        # pred[t] against ref[t - shift]: a late prediction lines up at a positive shift.
        a, b = (p[shift:], r[:len(r) - shift]) if shift >= 0 else (p[:shift], r[-shift:])
        corr = _correlation(a, b)
        if corr > best_corr + 1e-9:
            best, best_corr = shift, corr
    return best * 1000.0 / FRAME_RATE_HZ


def jitter_mm(track: np.ndarray, geometry: FaceGeometry) -> float:
    """Mean norm of the third time difference of lip-vertex positions, mm / frame³."""
    if len(track) < 4:
        return 0.0
    positions = geometry.skin_vertices(track, geometry.lip_vertices)
    jerk = np.diff(positions, n=3, axis=0)
    return float(np.linalg.norm(jerk, axis=-1).mean() * MM_PER_M)


COUNTS = ("bilabial_closed", "bilabial_phones", "silences_closed", "silences", "vowels_closed",
          "vowels")


def evaluate_clip(pred: np.ndarray, ref: np.ndarray, timeline: Timeline,
                  geometry: FaceGeometry) -> dict[str, float]:
    """All metrics for one clip, and the closure counts behind the two rates (`COUNTS`).
    Closure rates and jitter judge the prediction alone. Tracks may differ by up to two
    frames in length (rounding); the longer is cut."""
    pred, ref = np.asarray(pred, np.float32), np.asarray(ref, np.float32)
    if abs(len(pred) - len(ref)) > 2:
        raise LivefaceError(
            f"predicted and reference tracks cover different durations ({len(pred)} vs "
            f"{len(ref)} frames); evaluate tracks made from the same audio."
        )
    frames = min(len(pred), len(ref))
    pred, ref = pred[:frames], ref[:frames]
    bilabial = bilabial_closures(pred, timeline, geometry)
    silence = silence_closures(pred, timeline, geometry)
    vowel = vowel_closures(pred, timeline, geometry)
    return {
        "lve_mm": lip_vertex_error_mm(pred, ref, geometry),
        "mve_mm": mean_vertex_error_mm(pred, ref, geometry),
        "fdd": upper_face_dynamics_deviation_mm(pred, ref, geometry),
        "bilabial_closure": _share(*bilabial),
        "silence_closure": _share(*silence),
        "vowel_closure": _share(*vowel),
        "lag_ms": lip_sync_lag_ms(pred, ref, geometry),
        "jitter": jitter_mm(pred, geometry),
        **dict(zip(COUNTS, (*bilabial, *silence, *vowel))),
    }
