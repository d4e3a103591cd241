import numpy as np

from app.avatar import showcase
from app.avatar.rig import ARKIT_NAMES, RIG_INDEX, clamp_rig


def _peak(label: str, name: str) -> float:
    times = [k.time_s for k in showcase.KEYFRAMES if k.label == label]
    return max(showcase.sample(t).rig[RIG_INDEX[name]] for t in times)


def test_every_blendshape_reaches_full_weight_in_its_segment():
    for name in ARKIT_NAMES:
        assert _peak(name, name) == 1.0, name


def test_starts_and_ends_neutral():
    assert not showcase.sample(0.0).rig.any()
    assert not showcase.sample(showcase.DURATION_S).rig.any()


def test_gaze_and_head_segments_move_their_controls():
    assert _peak("gaze left", "gazeYaw") > 0.3
    assert _peak("turn left", "headYaw") > 0.4
    assert _peak("blink", "eyeBlinkLeft") == 1.0


def test_frames_are_valid_rigs_and_squeeze_to_a_count():
    frames = list(showcase.showcase_frames(fps=30, frames=60))
    assert len(frames) == 60
    for frame in frames:
        assert np.array_equal(clamp_rig(frame.rig), frame.rig)
    full = list(showcase.showcase_frames(fps=10))
    assert len(full) == int(round(showcase.DURATION_S * 10)) + 1


def test_motion_is_continuous():
    times = np.arange(0.0, showcase.DURATION_S, 0.01)
    rigs = np.stack([showcase.sample(t).rig for t in times])
    steps = np.abs(np.diff(rigs, axis=0)).max(axis=1)
    assert steps.max() < 0.35  # eased: no jump larger than a fast blink covers in 10 ms
