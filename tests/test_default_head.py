"""The shipped default head looks finished: a mouth that reads when it opens (teeth, a dark
cavity, a tongue below the teeth), hair, lashes, brows, a top, and clean edges."""

import numpy as np
import pytest

from app.avatar.model import PartRole
from app.avatar.rig import ARKIT_NAMES, RIG_INDEX, neutral_rig
from app.avatar.gltf import load_avatar
from app.resources import default_avatar_path


@pytest.fixture(scope="module")
def head():
    return load_avatar(default_avatar_path())


def _part(head, name: str):
    return next(p for p in head.parts if p.name == name)


def _boundary_vertices(indices: np.ndarray) -> np.ndarray:
    """Vertices on edges that only one triangle uses (positions welded by the caller)."""
    edges = np.sort(np.concatenate([indices[:, [0, 1]], indices[:, [1, 2]], indices[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(unique[counts == 1])


def _welded(part) -> tuple[np.ndarray, np.ndarray]:
    """Positions with UV-seam duplicates merged, and the triangles over them."""
    points, inverse = np.unique(np.round(part.positions, 6), axis=0, return_inverse=True)
    return points, inverse.reshape(-1)[part.indices]


def test_all_52_targets_and_every_part(head):
    assert head.target_names == ARKIT_NAMES
    assert [p.name for p in head.parts] == [
        "skin", "eye_left", "eye_right", "teeth", "tongue", "shoulders", "hair", "lashes", "top"]
    assert head.vertex_count < 12_000 and head.triangle_count < 20_000  # light for 90 Hz stereo


def test_lower_teeth_and_tongue_follow_the_jaw_and_upper_teeth_do_not(head):
    teeth = _part(head, "teeth")
    jaw = teeth.morph_positions[RIG_INDEX["jawOpen"]]
    lower = np.linalg.norm(jaw, axis=1) > 0.005
    assert 20 < lower.sum() < teeth.vertex_count - 20  # the lower row moves, the upper stays
    assert np.all(np.abs(jaw[~lower]) < 1e-6)
    tongue = _part(head, "tongue").morph_positions[RIG_INDEX["jawOpen"]]
    assert np.median(tongue[:, 1]) < -0.015


def test_tongue_lies_below_the_lower_teeth_edge(head):
    teeth, tongue = _part(head, "teeth"), _part(head, "tongue")
    lower = np.linalg.norm(teeth.morph_positions[RIG_INDEX["jawOpen"]], axis=1) > 0.005
    front = tongue.positions[:, 2] > tongue.positions[:, 2].max() - 0.02  # the tip's half
    assert tongue.positions[front, 1].max() < teeth.positions[lower, 1].max() - 0.003


def test_lashes_close_with_the_lids_and_brows_rise_with_them(head):
    lashes = _part(head, "lashes")
    blink = np.linalg.norm(lashes.morph_positions[RIG_INDEX["eyeBlinkLeft"]], axis=1)
    assert blink.max() > 0.008 and np.all(lashes.positions[blink > 1e-4, 0] > 0)
    hair = _part(head, "hair")
    brow = hair.morph_positions[RIG_INDEX["browInnerUp"], :, 1]
    assert brow.max() > 0.002  # the brow hairs ride on the skin's brow targets
    assert lashes.material.alpha_mode == "MASK" and hair.material.alpha_mode == "MASK"


def test_hair_covers_the_crown_and_stays_off_the_face(head):
    hair, skin = _part(head, "hair"), _part(head, "skin")
    assert hair.positions[:, 1].max() > skin.positions[:, 1].max() + 0.003
    eyes = head.eye_centers[PartRole.EYE_LEFT][1]
    scalp = hair.positions[hair.positions[:, 1] > eyes + 0.04]
    assert scalp[:, 2].max() < skin.positions[:, 2].max() - 0.02  # behind the nose, not a visor


def test_top_ends_in_flat_cuts_and_the_skin_ends_under_it(head):
    top = _part(head, "top")
    points, tris = _welded(top)
    edge = points[_boundary_vertices(tris)]
    bottom, side = points[:, 1].min(), np.abs(points[:, 0]).max()
    neck_y = head.neck_pivot[1]
    on_cut = (np.abs(edge[:, 1] - bottom) < 1e-5) | (np.abs(np.abs(edge[:, 0]) - side) < 1e-5)
    collar = edge[:, 1] > neck_y - 0.1
    assert np.all(on_cut | collar)  # every open edge is a flat cut or the collar
    assert np.all(top.head_weights == 0.0)
    shoulders = _part(head, "shoulders")
    assert shoulders.positions[:, 1].min() > bottom and np.abs(shoulders.positions[:, 0]).max() < side
    skin_points, skin_tris = _welded(shoulders)
    skin_edge = skin_points[_boundary_vertices(skin_tris)]
    seam = {tuple(p) for p in np.round(_part(head, "skin").positions, 6)}  # shared with the face
    skin_edge = np.array([p for p in skin_edge if tuple(p) not in seam])
    assert len(skin_edge) > 20
    for point in skin_edge:  # the bust's own cut is hidden: the top lies over it
        near = np.hypot(points[:, 0] - point[0], points[:, 2] - point[2]) < 0.02
        assert np.any(points[near, 1] > point[1] - 0.005), point


def test_neck_blends_from_head_to_body(head):
    skin = _part(head, "skin")
    assert skin.head_weights is not None
    y = skin.positions[:, 1]
    assert np.all(skin.head_weights[y > head.neck_pivot[1]] == 1.0)
    assert np.all(skin.head_weights[y < y.min() + 0.01] == 0.0)


def test_no_vertex_strays_outside_the_bust(head):
    low, high = head.bounds()
    assert np.all(high - low < [0.45, 0.5, 0.3])
    for part in head.parts:
        assert np.all(np.isfinite(part.positions)), part.name
        moved = part.positions[None] + part.morph_positions
        assert np.all(moved >= low - 0.05) and np.all(moved <= high + 0.05), part.name


def test_open_mouth_shows_teeth_and_a_dark_cavity_not_a_pale_tongue(head, gl_context):
    from app.render.camera import View, look_at, perspective
    from app.render.offscreen import OffscreenRenderer

    renderer = OffscreenRenderer(head, 160, 160, samples=0, ctx=gl_context)
    try:
        mouth_y = head.eye_centers[PartRole.EYE_LEFT][1] - 0.08  # the open mouth, below the eyes
        view = View(look_at((0.0, mouth_y, 0.42), (0.0, mouth_y, 0.1)),
                    perspective(np.radians(12.0), 1.0, 0.05, 2.0), (0, 0, 160, 160),
                    renderer.target.framebuffer)
        rig = neutral_rig()
        rig[RIG_INDEX["jawOpen"]] = 1.0
        opened = renderer.render_frame(rig, views=[view]).astype(np.float64)
        closed = renderer.render_frame(neutral_rig(), views=[view]).astype(np.float64)
    finally:
        renderer.release()
    # The head before this build showed 65 new dark pixels and 4,262 pale pink ones here.
    luminance = opened @ [0.2126, 0.7152, 0.0722], closed @ [0.2126, 0.7152, 0.0722]
    assert (luminance[0] < 40).sum() - (luminance[1] < 40).sum() > 1500  # a dark cavity
    white = (opened.min(axis=2) > 150) & (opened.max(axis=2) - opened.min(axis=2) < 45)
    assert white.sum() > 500  # teeth catch the light
    changed = np.abs(opened - closed).sum(axis=2) > 60
    r, g, b = opened[..., 0], opened[..., 1], opened[..., 2]
    pale = (r > 190) & (g > 130) & (b > 130) & (r - g > 25) & changed
    assert pale.sum() < 3000  # no pale tongue filling the mouth
