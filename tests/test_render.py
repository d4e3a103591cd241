"""Renderer tests on real pixels: what a rig change must (and must not) change on screen.

Pixel regions are found by projecting the avatar's own landmarks (region centroids, eye
centres) through the view matrices, never hard-coded.

Golden images live in tests/golden/. After an intended change to the shading or the
default avatar, regenerate them with

    LIVEFACE_UPDATE_GOLDEN=1 pytest tests/test_render.py -k golden

and look at the new PNGs before committing them.
"""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.avatar.model import Avatar, PartRole
from app.avatar.rig import clamp_rig, neutral_rig, rig_from_weights
from app.avatar.texture_controls import NUM_REGIONS, REGION_INDEX, TextureControls
from app.errors import LivefaceError
from app.render import camera
from app.render.offscreen import DEFAULT_BACKGROUND, OffscreenRenderer, save_png
from app.resources import default_avatar_path

SIZE = 256
GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("LIVEFACE_UPDATE_GOLDEN") == "1"
BACKGROUND = np.round(np.array(DEFAULT_BACKGROUND) * 255)  # the clear colour is stored as given


@pytest.fixture(scope="module")
def default_avatar() -> Avatar:
    from app.avatar.gltf import load_avatar

    if not default_avatar_path().is_file():
        pytest.fail(f"the default avatar {default_avatar_path()} is missing")
    return load_avatar(default_avatar_path())


@pytest.fixture(scope="module")
def face(gl_context, default_avatar):
    renderer = OffscreenRenderer(default_avatar, SIZE, SIZE, ctx=gl_context)
    yield renderer
    renderer.release()


@pytest.fixture(scope="module")
def eyes(gl_context, default_avatar):
    """A close-up of both eyes, so irises span many pixels."""
    renderer = OffscreenRenderer(default_avatar, SIZE, SIZE // 2, ctx=gl_context)
    centers = np.array(list(default_avatar.eye_centers.values()))
    bounds = (centers.min(0) - [0.025, 0.02, 0.015], centers.max(0) + [0.025, 0.02, 0.015])
    renderer.view = camera.portrait_view(bounds, SIZE, SIZE // 2, renderer.target.framebuffer)
    yield renderer
    renderer.release()


def region_point(avatar: Avatar, region: str) -> np.ndarray:
    """Rest-space centroid of one texture-control region of the skin."""
    skin = avatar.part(PartRole.SKIN)
    return skin.positions[np.round(skin.regions) == REGION_INDEX[region]].mean(axis=0)


def window(image: np.ndarray, center_px: np.ndarray, radius_px: int) -> np.ndarray:
    x, y = np.round(center_px).astype(int).ravel()[:2]
    return image[max(y - radius_px, 0): y + radius_px + 1, max(x - radius_px, 0): x + radius_px + 1]


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def dark_centroid(patch: np.ndarray, threshold: float = 70.0) -> np.ndarray:
    """(x, y) centroid of the dark face pixels (irises, brows, lips) of an image patch;
    the background colour, taken from the top-left corner of the frame, never counts."""
    luminance = patch.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    background = np.abs(patch.astype(int) - BACKGROUND).sum(-1) < 12
    ys, xs = np.nonzero((luminance < threshold) & ~background)
    assert len(xs) > 10, "no dark iris pixels found"
    return np.array([xs.mean(), ys.mean()])


# ---- tiny avatar: the GPU morph path without any asset ----

def test_tiny_avatar_jaw_open_moves_lower_half_only(ctx, tiny_avatar):
    renderer = OffscreenRenderer(tiny_avatar, 128, 128, samples=0, ctx=ctx)
    neutral = renderer.render_frame()
    jaw = renderer.render_frame(rig_from_weights({"jawOpen": 1.0}))
    renderer.release()
    rows = np.abs(neutral.astype(int) - jaw.astype(int)).sum(axis=(1, 2))
    assert rows[:40].sum() == 0  # the crown does not move
    assert rows[90:].sum() > 1000  # the chin does


def test_supersampling_averages_a_larger_render(ctx, tiny_avatar):
    plain = OffscreenRenderer(tiny_avatar, 64, 64, samples=0, ctx=ctx)
    large = OffscreenRenderer(tiny_avatar, 128, 128, samples=0, ctx=ctx)
    smooth = OffscreenRenderer(tiny_avatar, 64, 64, samples=0, ctx=ctx, supersample=2)
    aliased, big, antialiased = plain.render_frame(), large.render_frame(), smooth.render_frame()
    for renderer in (plain, large, smooth):
        renderer.release()
    expected = big.reshape(64, 2, 64, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(antialiased - expected).max() <= 1.0
    # edges get in-between values that a single-sample render cannot have
    assert len(np.unique(antialiased.reshape(-1, 3), axis=0)) > len(
        np.unique(aliased.reshape(-1, 3), axis=0))


def test_render_is_deterministic_and_top_row_first(ctx, tiny_avatar):
    renderer = OffscreenRenderer(tiny_avatar, 96, 64, ctx=ctx)
    first, second = renderer.render_frame(), renderer.render_frame()
    eye_px = renderer.view.project(tiny_avatar.eye_centers[PartRole.EYE_LEFT])[0]
    renderer.release()
    assert first.shape == (64, 96, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, second)
    assert eye_px[1] < 32  # the eyes sit in the upper half of a top-row-first image
    background = first[0, 0].astype(int)
    assert np.abs(first[int(eye_px[1]) + 12, 48].astype(int) - background).sum() > 30


def test_camera_matrices_follow_the_gl_conventions():
    near, far = 0.1, 10.0
    projection = camera.perspective(np.radians(60), 1.5, near, far)
    for depth, ndc_z in ((near, -1.0), (far, 1.0)):
        clip = projection @ np.array([0.0, 0.0, -depth, 1.0])
        assert clip[2] / clip[3] == pytest.approx(ndc_z, abs=1e-5)
    half = np.radians(30)
    symmetric = camera.fov_projection(-np.arctan(np.tan(half) * 1.5), np.arctan(np.tan(half) * 1.5),
                                      half, -half, near, far)
    np.testing.assert_allclose(symmetric, projection, atol=1e-5)
    view = camera.look_at((1.0, 2.0, 3.0), (1.0, 2.0, 0.0))
    np.testing.assert_allclose(view @ [1.0, 2.0, 3.0, 1.0], [0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(view @ [1.0, 2.0, 0.0, 1.0], [0, 0, -3, 1], atol=1e-6)


def test_normal_map_changes_the_shading(ctx, tiny_avatar):
    from dataclasses import replace

    skin = tiny_avatar.parts[0]
    bumps = np.zeros((64, 64, 4), np.uint8)
    bumps[..., 0] = np.where((np.arange(64) // 4) % 2, 200, 56)[None, :]  # tilted stripes
    bumps[..., 1], bumps[..., 2], bumps[..., 3] = 128, 220, 255
    tangents = np.c_[np.cross([0.0, 1.0, 0.0], skin.normals) + [1e-3, 0, 0], np.ones(len(skin.normals))]
    mapped = replace(skin, tangents=tangents.astype(np.float32),
                     material=replace(skin.material, normal_texture=bumps))
    bumpy = replace(tiny_avatar, parts=(mapped, *tiny_avatar.parts[1:]))
    images = []
    for avatar in (tiny_avatar, bumpy):
        renderer = OffscreenRenderer(avatar, 96, 96, ctx=ctx)
        images.append(renderer.render_frame())
        renderer.release()
    assert mean_difference(*images) > 2.0


# ---- the default avatar ----

def test_jaw_open_changes_the_mouth_not_the_forehead(face, default_avatar):
    neutral = face.render_frame()
    jaw = face.render_frame(rig_from_weights({"jawOpen": 1.0}))
    mouth_px = face.view.project(region_point(default_avatar, "mouth"))
    forehead_px = face.view.project(region_point(default_avatar, "forehead"))
    assert mean_difference(window(neutral, mouth_px, 12), window(jaw, mouth_px, 12)) > 8.0
    assert mean_difference(window(neutral, forehead_px, 12), window(jaw, forehead_px, 12)) < 0.5


def test_blink_left_closes_the_left_eye_only(eyes, default_avatar):
    neutral = eyes.render_frame()
    blink = eyes.render_frame(rig_from_weights({"eyeBlinkLeft": 1.0}))
    left_px = eyes.view.project(default_avatar.eye_centers[PartRole.EYE_LEFT])
    right_px = eyes.view.project(default_avatar.eye_centers[PartRole.EYE_RIGHT])
    assert left_px[0, 0] > right_px[0, 0]  # facing the camera: its left is image-right
    assert mean_difference(window(neutral, left_px, 10), window(blink, left_px, 10)) > 15.0
    assert mean_difference(window(neutral, right_px, 10), window(blink, right_px, 10)) < 0.5


@pytest.mark.parametrize("gaze, axis, sign", [
    ({"gazeYaw": 0.35}, 0, +1),  # towards the avatar's left: image-right
    ({"gazeYaw": -0.35}, 0, -1),
    ({"gazePitch": 0.3}, 1, -1),  # up: towards the top row
])
def test_gaze_moves_the_irises(eyes, default_avatar, gaze, axis, sign):
    neutral = eyes.render_frame()
    looking = eyes.render_frame(rig_from_weights(gaze))
    for role in (PartRole.EYE_LEFT, PartRole.EYE_RIGHT):
        center_px = eyes.view.project(default_avatar.eye_centers[role])
        shift = dark_centroid(window(looking, center_px, 14)) - dark_centroid(window(neutral, center_px, 14))
        assert shift[axis] * sign > 1.0


def test_head_yaw_turns_the_face_to_its_left(gl_context, default_avatar):
    # Without the hair, whose dark back comes into view on the other side as the head turns.
    bald = replace(default_avatar, parts=tuple(p for p in default_avatar.parts if p.name != "hair"))
    face = OffscreenRenderer(bald, SIZE, SIZE, ctx=gl_context)
    try:
        neutral = face.render_frame()
        turned = face.render_frame(rig_from_weights({"headYaw": 0.5}))
    finally:
        face.release()
    nose = region_point(default_avatar, "nose")
    nose_px = face.view.project(nose)
    assert mean_difference(window(neutral, nose_px, 16), window(turned, nose_px, 16)) > 5.0
    # The dark features (eyes, brows, lips) shift towards image-right.
    band = slice(int(nose_px[0, 1]) - 40, int(nose_px[0, 1]) + 40)
    shift = dark_centroid(turned[band], 90) - dark_centroid(neutral[band], 90)
    assert shift[0] > 5.0


def test_stereo_views_differ_by_the_eye_offset(face, default_avatar):
    left, right = face.render_stereo()
    assert mean_difference(left, right) > 1.0
    left_view, right_view = camera.stereo_views(face.view)
    nose = region_point(default_avatar, "nose")
    disparity = left_view.project(nose)[0, 0] - right_view.project(nose)[0, 0]
    assert disparity > 2.0  # the left eye sees the face further right
    shift = int(round(disparity))
    aligned = mean_difference(left[:, shift:], right[:, :-shift])
    assert aligned < 0.5 * mean_difference(left, right)


def test_side_by_side_stereo_fills_both_halves(face):
    center = face.view
    views = camera.stereo_views(center, side_by_side=True)
    assert views[0].viewport == (0, 0, SIZE // 2, SIZE) and views[1].viewport[0] == SIZE // 2
    image = face.render_frame(views=list(views))
    halves = image[:, : SIZE // 2], image[:, SIZE // 2:]
    background = image[0, 0].astype(int)
    for half in halves:
        assert (np.abs(half.astype(int) - background).sum(-1) > 30).mean() > 0.1


def test_bad_rig_values_render_as_clamped(face):
    rig = neutral_rig()
    rig[:5] = np.nan
    rig[17] = 7.0  # jawOpen far past 1
    rig[52:] = [np.inf, -9.0, 3.0, np.nan, 2.0]
    np.testing.assert_array_equal(face.render_frame(rig), face.render_frame(clamp_rig(rig)))


def test_wrong_rig_shape_is_a_user_error(face):
    with pytest.raises(LivefaceError, match="57 floats"):
        face.render_frame(np.zeros(52, np.float32))


def test_texture_controls_flush_and_wrinkle_their_regions(face, default_avatar):
    neutral = face.render_frame()
    flush = np.zeros(NUM_REGIONS, np.float32)
    flush[REGION_INDEX["cheeks"]] = 1.0
    wrinkle = np.zeros(NUM_REGIONS, np.float32)
    wrinkle[REGION_INDEX["forehead"]] = 1.0
    styled = face.render_frame(texture=TextureControls(wrinkle, flush))
    cheeks = face.view.project(region_point(default_avatar, "cheeks") * [0, 1, 1]
                               + [0.045, 0, 0])
    before, after = window(neutral, cheeks, 6).astype(float), window(styled, cheeks, 6).astype(float)
    assert (after[..., 0] - after[..., 1]).mean() > (before[..., 0] - before[..., 1]).mean() + 5
    forehead = face.view.project(region_point(default_avatar, "forehead"))
    mouth = face.view.project(region_point(default_avatar, "mouth"))
    assert mean_difference(window(neutral, forehead, 12), window(styled, forehead, 12)) > 1.0
    assert mean_difference(window(neutral, mouth, 8), window(styled, mouth, 8)) < 0.2


def test_texture_controls_are_clamped(face):
    wild = TextureControls(np.full(NUM_REGIONS, np.nan, np.float32), np.full(NUM_REGIONS, 9.0, np.float32))
    np.testing.assert_array_equal(face.render_frame(texture=wild),
                                  face.render_frame(texture=wild.clamped()))


# ---- golden images ----

GOLDEN_CASES = {
    "neutral": {},
    "smile_open_left": {"jawOpen": 0.5, "mouthSmileLeft": 0.8, "mouthSmileRight": 0.8,
                        "browInnerUp": 0.6, "headYaw": 0.3, "gazeYaw": 0.2},
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_image(gl_context, default_avatar, name):
    renderer = OffscreenRenderer(default_avatar, 128, 128, ctx=gl_context)
    image = renderer.render_frame(rig_from_weights(GOLDEN_CASES[name]))
    renderer.release()
    path = GOLDEN_DIR / f"{name}_128.png"
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        save_png(path, image)
    assert path.is_file(), f"{path} is missing; run with LIVEFACE_UPDATE_GOLDEN=1 to make it"
    expected = np.asarray(Image.open(path).convert("RGB"))
    difference = np.abs(image.astype(np.int16) - expected.astype(np.int16))
    assert difference.mean() < 3.0, f"mean difference {difference.mean():.2f}/255"
    assert (difference.max(axis=-1) > 32).mean() < 0.01


@pytest.mark.slow
def test_bench_render_reports_both_cases(default_avatar):
    from app.render.bench import bench_render

    figures = bench_render(default_avatar, seconds=0.05, samples=0)
    assert figures["device"].strip()
    assert figures["mono_1280x720_fps"] > 0 and figures["stereo_2x1832x1920_fps"] > 0
    assert figures["frames"]["mono"] >= 2 and figures["frames"]["stereo"] >= 2
    assert figures["msaa_samples"] == 0 and figures["rig"] == "talking"
    assert bench_render(default_avatar, seconds=0.05, samples=0, talking=False)["rig"] == "still"
