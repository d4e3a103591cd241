"""The dark-pupil tracker against the synthetic eye camera, whose pupil centre is known
exactly: accuracy over the gaze range, monotonic motion, blinks and blank frames, other
resolutions and colour frames, bad input, and an eye video written and read back."""

import cv2
import numpy as np
import pytest

from app.eyes.pupil import PupilFix, find_pupil
from app.eyes.synthetic import (
    IRIS_RADIUS_FRACTION,
    PUPIL_TO_IRIS,
    pupil_centre_px,
    render_eye,
    write_eye_video,
)

GRID_RAD = np.linspace(-0.5, 0.5, 5)
# Measured at 160x120 over this grid and 15 noise seeds: mean 0.12 px, max 0.31 px.
MAX_ERROR_PX, MEAN_ERROR_PX = 0.5, 0.2


def centre_px(fix: PupilFix, width_px: int = 160, height_px: int = 120) -> np.ndarray:
    return np.array([fix.x * width_px - 0.5, fix.y * height_px - 0.5])


def grid_fixes() -> dict[tuple[float, float], PupilFix]:
    fixes = {(yaw, pitch): find_pupil(render_eye(yaw, pitch)) for yaw in GRID_RAD
             for pitch in GRID_RAD}
    assert all(fix is not None for fix in fixes.values())
    return fixes


# -- accuracy and motion ------------------------------------------------------------------
def test_centre_is_within_half_a_pixel_over_the_gaze_range():
    errors_px = [np.hypot(*(centre_px(fix) - pupil_centre_px(*gaze)))
                 for gaze, fix in grid_fixes().items()]
    assert max(errors_px) < MAX_ERROR_PX
    assert np.mean(errors_px) < MEAN_ERROR_PX


def test_clear_pupils_are_found_with_confidence():
    assert min(fix.confidence for fix in grid_fixes().values()) > 0.6


def test_radius_is_the_drawn_pupil_radius():
    fix = find_pupil(render_eye(0.0, 0.0))
    assert fix.radius == pytest.approx(IRIS_RADIUS_FRACTION * PUPIL_TO_IRIS, rel=0.1)


def test_centre_moves_right_with_yaw_and_up_with_pitch():
    fixes = grid_fixes()
    for pitch in GRID_RAD:
        xs = [fixes[yaw, pitch].x for yaw in GRID_RAD]
        assert np.all(np.diff(xs) > 0), f"x not increasing with yaw at pitch {pitch}: {xs}"
    for yaw in GRID_RAD:
        ys = [fixes[yaw, pitch].y for pitch in GRID_RAD]
        assert np.all(np.diff(ys) < 0), f"y not decreasing with pitch at yaw {yaw}: {ys}"


# -- no pupil -----------------------------------------------------------------------------
def test_a_closed_eye_has_no_pupil():
    assert find_pupil(render_eye(0.0, 0.0, openness=0.0)) is None


def test_a_half_closed_eye_still_shows_its_pupil():
    fix = find_pupil(render_eye(0.0, 0.0, openness=0.5))
    assert fix is not None and fix.confidence > 0.6
    assert np.hypot(*(centre_px(fix) - pupil_centre_px(0.0, 0.0))) < MAX_ERROR_PX


def test_the_iris_is_not_taken_for_a_pupil_hidden_under_the_lid():
    # Looking up with the lid low: part of the iris shows, the pupil does not.
    assert find_pupil(render_eye(0.0, 0.5, openness=0.35)) is None


@pytest.mark.parametrize("grey", [0, 128, 255])
def test_a_blank_frame_has_no_pupil(grey):
    assert find_pupil(np.full((120, 160), grey, np.uint8)) is None


@pytest.mark.parametrize("shape", [(0, 0), (0, 160), (0, 5, 3), (1, 1), (3, 400)])
def test_empty_and_tiny_frames_have_no_pupil(shape):
    assert find_pupil(np.zeros(shape, np.uint8)) is None


@pytest.mark.parametrize("seed", range(4))
def test_random_noise_is_no_confident_pupil(seed):
    noise = np.random.default_rng(seed).integers(0, 256, (120, 160), dtype=np.uint8)
    fix = find_pupil(noise)
    assert fix is None or fix.confidence < 0.5


# -- resolution, colour, bad input --------------------------------------------------------
@pytest.mark.parametrize("gaze_rad", [(0.0, 0.0), (0.4, -0.3), (-0.5, 0.5)])
def test_normalised_centre_does_not_depend_on_resolution(gaze_rad):
    small = find_pupil(render_eye(*gaze_rad))
    large = find_pupil(render_eye(*gaze_rad, width_px=640, height_px=480))
    assert abs(small.x - large.x) < 0.01 and abs(small.y - large.y) < 0.01
    assert np.hypot(*(centre_px(large, 640, 480)
                      - pupil_centre_px(*gaze_rad, width_px=640, height_px=480))) < 1.0


def test_a_colour_frame_gives_the_same_fix_as_its_grey():
    grey = render_eye(0.3, -0.2)
    assert find_pupil(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)) == find_pupil(grey)


@pytest.mark.parametrize("image", [np.zeros((120, 160), np.float32),
                                   np.zeros((2, 120, 160, 3), np.uint8),
                                   np.zeros((120, 160, 4), np.uint8)])
def test_a_wrong_dtype_or_shape_is_a_programming_error(image):
    with pytest.raises(ValueError):
        find_pupil(image)


# -- video --------------------------------------------------------------------------------
def test_an_eye_video_reads_back_frame_for_frame(tmp_path):
    gazes_rad = np.stack([np.linspace(-0.4, 0.4, 8), np.linspace(0.3, -0.3, 8)], axis=1)
    openness = np.array([1, 1, 1, 0, 1, 1, 1, 1.0])  # a blink in frame 3
    path = tmp_path / "eye.mkv"
    write_eye_video(path, gazes_rad, 30.0, openness=openness)
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    assert len(frames) == len(gazes_rad)
    assert find_pupil(frames[3]) is None
    for index in (0, 5):
        fix = find_pupil(frames[index])
        assert np.hypot(*(centre_px(fix) - pupil_centre_px(*gazes_rad[index]))) < 1.5


def test_an_eye_video_needs_one_openness_per_frame(tmp_path):
    with pytest.raises(ValueError):
        write_eye_video(tmp_path / "eye.mkv", np.zeros((4, 2)), 30.0, openness=np.ones(3))


def test_an_eye_video_that_cannot_be_written_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="cannot write"):
        write_eye_video(tmp_path / "missing" / "eye.mkv", np.zeros((2, 2)), 30.0)
