import numpy as np
import pytest

from app.avatar import rig
from app.avatar.emotions import EMOTIONS, emotion_flush, emotion_rig
from app.avatar.texture_controls import NUM_REGIONS, REGION_INDEX, TextureControls, texture_controls_from_rig
from app.errors import LivefaceError


def test_layout_matches_the_contract():
    assert rig.RIG_SIZE == 57
    assert rig.ARKIT_NAMES[0] == "eyeBlinkLeft" and rig.ARKIT_NAMES[-1] == "tongueOut"
    assert rig.RIG_NAMES[rig.HEAD_SLICE] == ("headPitch", "headYaw", "headRoll")
    assert rig.RIG_NAMES[rig.GAZE_SLICE] == ("gazeYaw", "gazePitch")
    assert rig.RIG_INDEX["jawOpen"] == 17


def test_neutral_is_inside_the_ranges():
    neutral = rig.neutral_rig()
    assert np.all(neutral >= rig.RIG_MIN) and np.all(neutral <= rig.RIG_MAX)


def test_clamp_clips_and_replaces_non_finite_values():
    values = np.full(rig.RIG_SIZE, 5.0, dtype=np.float32)
    values[0] = np.nan
    values[rig.RIG_INDEX["headYaw"]] = -np.inf
    clamped = rig.clamp_rig(values)
    assert clamped[0] == 0.0
    assert clamped[rig.RIG_INDEX["jawOpen"]] == 1.0
    assert clamped[rig.RIG_INDEX["headYaw"]] == 0.0
    assert np.all(np.isfinite(clamped))


def test_clamp_rejects_wrong_shapes():
    with pytest.raises(LivefaceError, match="57 floats"):
        rig.clamp_rig(np.zeros(52))


def test_named_weights_round_trip():
    values = rig.rig_from_weights({"jawOpen": 0.5, "gazeYaw": 0.2})
    named = rig.rig_to_weights(values)
    assert named["jawOpen"] == 0.5 and named["gazeYaw"] == pytest.approx(0.2)
    with pytest.raises(LivefaceError, match="not a rig control"):
        rig.rig_from_weights({"jawOpenn": 1.0})


@pytest.mark.parametrize("emotion", EMOTIONS[1:])
def test_each_emotion_moves_the_face_and_scales_with_intensity(emotion):
    full, half = emotion_rig(emotion, 1.0), emotion_rig(emotion, 0.5)
    assert np.abs(full).max() > 0.3
    np.testing.assert_allclose(half, full * 0.5, atol=1e-6)
    assert np.array_equal(rig.clamp_rig(full), full)


def test_emotion_errors_name_the_choices():
    assert not emotion_rig("neutral").any()
    with pytest.raises(LivefaceError, match="happy"):
        emotion_rig("joyful")
    with pytest.raises(LivefaceError, match="0..1"):
        emotion_flush("angry", 1.5)


def test_texture_controls_follow_the_muscles():
    frown = texture_controls_from_rig(rig.rig_from_weights({"browDownLeft": 1, "browDownRight": 1}))
    assert frown.wrinkle[REGION_INDEX["brows"]] == 1.0
    assert frown.wrinkle[REGION_INDEX["forehead"]] == 0.0
    flushed = texture_controls_from_rig(rig.neutral_rig(), flush=1.0)
    assert flushed.flush[REGION_INDEX["cheeks"]] > flushed.flush[REGION_INDEX["forehead"]] > 0


def test_texture_controls_clamp_bad_values():
    bad = TextureControls(np.full(NUM_REGIONS, np.nan), np.full(NUM_REGIONS, 3.0)).clamped()
    assert np.all(bad.wrinkle == 0.0) and np.all(bad.flush == 1.0)
