"""The procedural teacher on hand-made timelines with synthetic audio, judged on the
default avatar's mesh."""

import numpy as np
import pytest

from app.audio.contract import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from app.avatar.rig import RIG_INDEX, clamp_rig
from app.data.teacher import Style, animate, default_geometry
from app.data.teacher_prosody import frame_count, pitch_hz
from app.data.timeline import Phone, Timeline
from app.data.visemes import VOWEL_VISEMES, viseme_of
from app.errors import LivefaceError


def speech(spec: str, phone_s: float = 0.12, lead_s: float = 0.4, tail_s: float = 0.5,
           loudness: dict[int, float] | None = None, seed: int = 0):
    """A timeline "sil <phones> sil" and audio whose envelope follows it: voiced vowels
    (a 140 Hz buzz), quieter consonants, silence in pauses. `loudness` scales phone i.
    A phone written "sil:0.6" is a pause of that length."""
    rng = np.random.default_rng(seed)
    phones, t = [Phone(0.0, lead_s, "sil")], lead_s
    for i, item in enumerate(spec.split()):
        name, _, length = item.partition(":")
        length_s = float(length) if length else phone_s
        phones.append(Phone(t, t + length_s, name, 1 if name in ("a", "i", "u") else 0))
        t += length_s
    phones.append(Phone(t, t + tail_s, "sil"))
    t += tail_s
    samples = int(round(t * SAMPLE_RATE_HZ))
    audio = np.zeros(samples, dtype=np.float32)
    times = np.arange(samples) / SAMPLE_RATE_HZ
    for i, phone in enumerate(phones[1:-1]):
        if phone.phone == "sil":
            continue
        a, b = int(phone.start_s * SAMPLE_RATE_HZ), int(phone.end_s * SAMPLE_RATE_HZ)
        gain = (loudness or {}).get(i, 1.0)
        if viseme_of(phone.phone) in VOWEL_VISEMES:
            buzz = np.sin(2 * np.pi * 140 * times[a:b]) + 0.5 * np.sin(2 * np.pi * 280 * times[a:b])
            audio[a:b] = 0.2 * gain * buzz
        else:
            audio[a:b] = 0.03 * gain * rng.normal(size=b - a)
    return Timeline(tuple(phones), duration_s=t), audio


def mid_frame(phone: Phone) -> int:
    return int((phone.start_s + phone.end_s) / 2 * FRAME_RATE_HZ)


@pytest.fixture(scope="module")
def geometry():
    return default_geometry()


def test_track_shape_and_ranges():
    timeline, audio = speech("h e l o")
    track = animate(timeline, audio, seed=3)
    assert track.shape == (int(np.ceil(len(audio) / 320)), 57) and track.dtype == np.float32
    assert np.array_equal(np.stack([clamp_rig(f) for f in track]), track)
    assert frame_count(0.021) == 2 and frame_count(0.02) == 1


@pytest.mark.parametrize("emotion", ["neutral", "happy", "surprised", "angry", "sad"])
def test_bilabials_close_and_vowels_open(geometry, emotion):
    timeline, audio = speech("p a m a b a m i p u b")
    track = animate(timeline, audio, emotion=emotion, intensity=1.0, seed=5)
    gap = geometry.lip_gap_mm(track)
    for phone in timeline.phones:
        if phone.phone in ("p", "b", "m"):
            assert gap[mid_frame(phone)] < 1.0, (emotion, phone)
        elif phone.phone == "a":
            assert gap[mid_frame(phone)] > 5.0, (emotion, phone)
        elif phone.phone in ("i", "u"):  # close vowels between bilabials: barely open
            assert gap[mid_frame(phone)] > 1.0, (emotion, phone)


def test_labiodentals_bring_lower_lip_up(geometry):
    timeline, audio = speech("a f a v a")
    track = animate(timeline, audio, seed=1)
    roll = track[:, RIG_INDEX["mouthRollLower"]]
    phones = {p.phone: p for p in timeline.phones}
    gap = geometry.lip_gap_mm(track)
    assert roll[mid_frame(phones["f"])] > 0.3 and roll[mid_frame(phones["v"])] > 0.3
    assert roll[mid_frame(phones["f"])] > roll[mid_frame(timeline.phones[1])] + 0.1
    assert gap[mid_frame(phones["f"])] < 4.0 < gap[mid_frame(timeline.phones[1])]


def test_mouth_rests_closed_in_long_silence(geometry):
    timeline, audio = speech("a b a sil:0.8 d a", lead_s=0.6, tail_s=0.8)
    track = animate(timeline, audio, seed=2)
    gap = geometry.lip_gap_mm(track)
    for phone in timeline.phones:
        if phone.phone == "sil" and phone.end_s - phone.start_s >= 0.5:
            middle = slice(mid_frame(phone) - 5, mid_frame(phone) + 5)
            assert gap[middle].max() < 1.0, phone


def test_rounding_and_closure_anticipate_the_phone(geometry):
    timeline, audio = speech("t a t u t a m a")
    control, control_audio = speech("t a t i t a n a")
    track = animate(timeline, audio, seed=4)
    unrounded = animate(control, control_audio, seed=4)
    phones = timeline.phones
    u = next(p for p in phones if p.phone == "u")
    before_u = int((u.start_s - 0.06) * FRAME_RATE_HZ)  # 60 ms before /u/ starts
    pucker = RIG_INDEX["mouthPucker"]
    assert track[before_u, pucker] > 0.25
    assert track[before_u, pucker] > unrounded[before_u, pucker] + 0.2
    m = next(p for p in phones if p.phone == "m")
    before_m = int((m.start_s - 0.04) * FRAME_RATE_HZ)  # lips already closing 40 ms early
    gap, control_gap = geometry.lip_gap_mm(track), geometry.lip_gap_mm(unrounded)
    assert gap[before_m] < control_gap[before_m] - 1.0


def test_jaw_follows_loudness():
    spec = "b a d a b a d a b a d a"
    quiet_first, audio = speech(spec, loudness={1: 0.3, 3: 0.3, 5: 0.3, 7: 1.0, 9: 1.0, 11: 1.0})
    track = animate(quiet_first, audio, style=Style(), seed=0)
    jaw = track[:, RIG_INDEX["jawOpen"]]
    vowels = [p for p in quiet_first.phones if p.phone == "a"]
    quiet = np.mean([jaw[mid_frame(p)] for p in vowels[:3]])
    loud = np.mean([jaw[mid_frame(p)] for p in vowels[3:]])
    assert loud > quiet * 1.25


def test_emotions_move_their_blendshapes():
    timeline, audio = speech("h a l o sil:0.4 m a p a")
    base = animate(timeline, audio, seed=7)

    def mean_of(track, *names):
        return float(np.mean([track[:, RIG_INDEX[n]].mean() for n in names]))

    happy = animate(timeline, audio, emotion="happy", intensity=0.8, seed=7)
    sad = animate(timeline, audio, emotion="sad", intensity=0.8, seed=7)
    angry = animate(timeline, audio, emotion="angry", intensity=0.8, seed=7)
    smile = ("mouthSmileLeft", "mouthSmileRight")
    assert mean_of(happy, *smile) > mean_of(base, *smile) + 0.3
    assert mean_of(sad, "browInnerUp") > mean_of(base, "browInnerUp") + 0.3
    assert mean_of(angry, "browDownLeft", "browDownRight") > mean_of(base, "browDownLeft") + 0.3
    assert sad[:, RIG_INDEX["jawOpen"]].max() < base[:, RIG_INDEX["jawOpen"]].max()


def test_blinks_at_a_plausible_rate():
    spec = " ".join(["b a d a sil:0.5"] * 20)
    timeline, audio = speech(spec, phone_s=0.15)
    track = animate(timeline, audio, seed=11)
    lid = track[:, RIG_INDEX["eyeBlinkLeft"]]
    closes = np.flatnonzero((lid[1:] >= 0.8) & (lid[:-1] < 0.8))
    minutes = len(track) / FRAME_RATE_HZ / 60
    assert 8 <= len(closes) / minutes <= 40
    # a blink closes within ~100 ms of starting and reopens more slowly
    start = np.flatnonzero((lid[1:] > 0.05) & (lid[:-1] <= 0.05))[0] + 1
    peak = start + int(np.argmax(lid[start:start + 10]))
    reopened = peak + int(np.argmax(lid[peak:] < 0.05))
    assert peak - start <= 5 and reopened - peak > peak - start


def test_gaze_and_head_move_a_little():
    timeline, audio = speech(" ".join(["m a d i"] * 10), phone_s=0.15)
    track = animate(timeline, audio, seed=9)
    gaze = track[:, RIG_INDEX["gazeYaw"]]
    jumps = np.flatnonzero(np.abs(np.diff(gaze)) > 0.01)
    assert 2 <= len(jumps) and np.abs(gaze).max() < 0.3
    head = track[:, RIG_INDEX["headPitch"]:RIG_INDEX["headRoll"] + 1]
    assert 0.003 < head.std(axis=0).max() < 0.1


def test_deterministic_per_seed_and_varied_across_seeds():
    timeline, audio = speech("s a m p e l")
    one, again = animate(timeline, audio, seed=1), animate(timeline, audio, seed=1)
    other = animate(timeline, audio, seed=2)
    assert np.array_equal(one, again)
    assert np.abs(one - other).max() > 0.05
    assert Style.draw(1) == Style.draw(1) != Style.draw(2)


def test_pitch_tracker_finds_the_tone():
    times = np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    tone = 0.3 * np.sin(2 * np.pi * 180 * times) + 0.2 * np.sin(2 * np.pi * 360 * times)
    f0 = pitch_hz(tone.astype(np.float32), 50)
    assert np.all(np.abs(f0[2:-2] - 180) < 3)
    assert not pitch_hz(np.zeros(SAMPLE_RATE_HZ, np.float32), 50).any()


def test_unknown_phones_and_bad_inputs():
    timeline = Timeline((Phone(0.0, 0.2, "sil"), Phone(0.2, 0.4, "ǂʼ"), Phone(0.4, 0.6, "ã")))
    track = animate(timeline, np.zeros(0, np.float32), seed=0)
    assert track.shape == (30, 57) and np.isfinite(track).all()
    with pytest.raises(LivefaceError):
        animate(timeline, np.zeros((2, 100), np.float32))
    with pytest.raises(LivefaceError):
        animate(timeline, np.zeros(100, np.float32), emotion="bored")
