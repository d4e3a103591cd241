import numpy as np
import pytest

from app.avatar.rig import RIG_MAX, RIG_MIN, RIG_SIZE
from app.errors import LivefaceError
from app.inference import FaceTrack, animate_audio, video_frames
from app.model.animator import Animator
from app.model.config import tiny_config


@pytest.fixture(scope="module")
def animator():
    return Animator.build(tiny_config())


def test_track_covers_the_clip_with_valid_frames(animator):
    audio = 0.1 * np.random.default_rng(0).standard_normal(16_000 + 100).astype(np.float32)
    track = animate_audio(animator, audio, "sad", 0.8)
    assert track.rig.shape == (51, RIG_SIZE)  # 1 s + 100 samples -> 51 frames of 20 ms
    assert np.all((track.rig >= RIG_MIN) & (track.rig <= RIG_MAX))
    assert np.all((track.wrinkle >= 0) & (track.wrinkle <= 1) & np.isfinite(track.flush))


def test_same_seed_same_track_and_bad_samples_stay_finite(animator):
    audio = np.zeros(8000, np.float32)
    audio[100:200] = np.nan
    first, again = animate_audio(animator, audio, seed=3), animate_audio(animator, audio, seed=3)
    assert np.array_equal(first.rig, again.rig) and np.all(np.isfinite(first.rig))


def test_unknown_emotion_is_a_user_error(animator):
    with pytest.raises(LivefaceError, match="unknown emotion"):
        animate_audio(animator, np.zeros(320, np.float32), "bored", 0.5)


def test_video_frames_interpolate_between_animation_frames():
    ramp = np.linspace(0, 1, 50, dtype=np.float32)[:, None]
    track = FaceTrack(np.repeat(ramp, RIG_SIZE, 1), np.repeat(ramp, 6, 1), np.zeros((50, 6)))
    frames = video_frames(track, fps=25)
    assert len(frames) == 25
    # video frame k (time (k + .5)/25 s) falls midway between animation frames 2k and 2k+1
    expected = (ramp[0::2, 0] + ramp[1::2, 0]) / 2
    np.testing.assert_allclose([f.rig[0] for f in frames], expected, atol=1e-6)
    np.testing.assert_allclose([f.texture.wrinkle[0] for f in frames], expected, atol=1e-6)
