"""Metrics on the default avatar: zero where tracks agree, the right sign and size where
they do not, and agreement with a brute-force computation."""

import numpy as np
import pytest

from app.audio.contract import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from app.avatar.rig import RIG_INDEX
from app.data.teacher import animate, default_geometry
from app.data.timeline import Phone, Timeline
from app.data.visemes import is_bilabial
from app.errors import LivefaceError
from app.eval import metrics


def clip():
    """'sil a b a m a sil(0.5) p a sil' with a buzz on the vowels."""
    layout = [("sil", 0.4), ("a", 0.14), ("b", 0.1), ("a", 0.14), ("m", 0.1), ("a", 0.14),
              ("sil", 0.5), ("p", 0.1), ("a", 0.16), ("sil", 0.5)]
    phones, t = [], 0.0
    for name, length in layout:
        phones.append(Phone(t, t + length, name))
        t += length
    times = np.arange(int(round(t * SAMPLE_RATE_HZ))) / SAMPLE_RATE_HZ
    audio = np.zeros_like(times, dtype=np.float32)
    for p in phones:
        if p.phone == "a":
            inside = (times >= p.start_s) & (times < p.end_s)
            audio[inside] = 0.2 * np.sin(2 * np.pi * 150 * times[inside])
    return Timeline(tuple(phones), duration_s=t), audio


@pytest.fixture(scope="module")
def geometry():
    return default_geometry()


@pytest.fixture(scope="module")
def teacher_clip():
    timeline, audio = clip()
    return timeline, animate(timeline, audio, seed=0)


def test_identical_tracks_score_zero(geometry, teacher_clip):
    timeline, track = teacher_clip
    scores = metrics.evaluate_clip(track, track.copy(), timeline, geometry)
    assert set(scores) == {"lve_mm", "mve_mm", "fdd", "bilabial_closure", "silence_closure",
                           "lag_ms", "jitter", "vowel_closure", *metrics.COUNTS}
    assert scores["lve_mm"] == 0 and scores["mve_mm"] == 0 and scores["fdd"] == 0
    assert scores["lag_ms"] == 0 and scores["jitter"] > 0


def test_lag_has_the_right_size_and_sign(geometry, teacher_clip):
    _, track = teacher_clip
    late = np.concatenate([np.repeat(track[:1], 3, axis=0), track[:-3]])  # 3 frames late
    early = np.concatenate([track[3:], np.repeat(track[-1:], 3, axis=0)])
    assert metrics.lip_sync_lag_ms(late, track, geometry) == pytest.approx(60.0)
    assert metrics.lip_sync_lag_ms(early, track, geometry) == pytest.approx(-60.0)


def test_closure_rates_fall_when_lips_are_forced_open(geometry, teacher_clip):
    timeline, track = teacher_clip
    assert metrics.bilabial_closure_rate(track, timeline, geometry) == 1.0
    assert metrics.silence_closure_rate(track, timeline, geometry) == 1.0
    opened = track.copy()
    opened[:, RIG_INDEX["jawOpen"]] = np.maximum(opened[:, RIG_INDEX["jawOpen"]], 0.3)
    opened[:, RIG_INDEX["mouthClose"]] = 0.0
    opened[:, RIG_INDEX["mouthPressLeft"]] = opened[:, RIG_INDEX["mouthPressRight"]] = 0.0
    assert metrics.bilabial_closure_rate(opened, timeline, geometry) == 0.0
    assert metrics.silence_closure_rate(opened, timeline, geometry) == 0.0
    assert len(metrics.silences(timeline)) == 3
    phones = sum(is_bilabial(p.phone) for p in timeline.phones)
    assert metrics.bilabial_closures(track, timeline, geometry) == (phones, phones) != (0, 0)
    assert metrics.bilabial_closures(opened, timeline, geometry) == (0, phones)
    scores = metrics.evaluate_clip(opened, track, timeline, geometry)
    assert (scores["silences_closed"], scores["silences"]) == (0, 3)


def test_a_face_held_shut_closes_every_vowel_and_the_teachers_closes_none(geometry,
                                                                         teacher_clip):
    timeline, track = teacher_clip
    vowels = sum(p.phone == "a" for p in timeline.phones)
    assert metrics.vowel_closures(track, timeline, geometry) == (0, vowels) != (0, 0)
    shut = np.repeat(track[:1], len(track), axis=0)  # the first frame: lips at rest, closed
    assert geometry.lip_gap_mm(shut[:1])[0] < metrics.CLOSED_GAP_MM
    scores = metrics.evaluate_clip(shut, track, timeline, geometry)
    assert scores["vowel_closure"] == 1.0 and scores["bilabial_closure"] == 1.0
    assert (scores["vowels_closed"], scores["vowels"]) == (vowels, vowels)


def test_lve_and_mve_match_brute_force(geometry):
    rng = np.random.default_rng(0)
    pred = np.zeros((3, 57), np.float32)
    ref = np.zeros((3, 57), np.float32)
    pred[:, :52] = rng.uniform(0, 0.5, (3, 52))
    ref[:, :52] = rng.uniform(0, 0.5, (3, 52))
    worst, total = [], 0.0
    for t in range(3):
        p = geometry.rest + np.einsum("k,kvc->vc", pred[t, :52], geometry.deltas)
        r = geometry.rest + np.einsum("k,kvc->vc", ref[t, :52], geometry.deltas)
        worst.append(max(np.linalg.norm(p[v] - r[v]) for v in geometry.lip_vertices))
        total += np.linalg.norm(p - r, axis=1).mean()
    assert metrics.lip_vertex_error_mm(pred, ref, geometry) == pytest.approx(
        1000 * np.mean(worst), rel=1e-4)
    assert metrics.mean_vertex_error_mm(pred, ref, geometry) == pytest.approx(
        1000 * total / 3, rel=1e-4)


def test_fdd_sign_follows_upper_face_motion(geometry):
    frames = 50
    still = np.zeros((frames, 57), np.float32)
    lively = still.copy()
    lively[:, RIG_INDEX["browInnerUp"]] = 0.5 + 0.5 * np.sin(np.arange(frames) / 3)
    # Averaged over every upper-face vertex, most of which brows do not move.
    assert metrics.upper_face_dynamics_deviation_mm(still, lively, geometry) > 0.01
    assert metrics.upper_face_dynamics_deviation_mm(lively, still, geometry) < -0.01
    assert metrics.upper_face_dynamics_deviation_mm(lively, lively, geometry) == 0


def test_jitter_is_higher_for_noisy_tracks(geometry, teacher_clip):
    _, track = teacher_clip
    noisy = track.copy()
    noise = np.random.default_rng(1).uniform(0, 0.1, (len(track), 52)).astype(np.float32)
    noisy[:, :52] = np.clip(noisy[:, :52] + noise, 0, 1)
    assert metrics.jitter_mm(noisy, geometry) > 2 * metrics.jitter_mm(track, geometry)


def test_tracks_of_different_clips_are_refused(geometry, teacher_clip):
    timeline, track = teacher_clip
    with pytest.raises(LivefaceError):
        metrics.evaluate_clip(track[: len(track) // 2], track, timeline, geometry)
    assert len(track) == int(np.ceil(timeline.duration_s * FRAME_RATE_HZ - 1e-9))


def test_a_still_face_has_no_lag(geometry, teacher_clip):
    """A constant track (float residue in its aperture) correlates with nothing: lag 0."""
    _, track = teacher_clip
    still = np.repeat(track.mean(axis=0, keepdims=True).astype(np.float32), len(track), axis=0)
    assert metrics.lip_sync_lag_ms(still, track, geometry) == 0.0
