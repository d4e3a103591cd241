"""A VRM 1.0 face written by another program: Godette as the VRM Add-on for Blender writes
her in VRM 1.0 (tests/vrm/Godette_vrm1.vrm; how it was made and its licence in
tests/vrm/LICENSE.md). Its layout is the exporter's own: VRMC_vrm with expressions bound
to the face node's morph targets, look-at by expressions with the avatar's ranges, the
humanoid's head and neck, VRMC_materials_mtoon, VRMC_springBone. It loads, the rig drives
its expressions, and the mouth, eyelids and eyes move on screen and in `liveface render`.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from app.avatar.gltf import avatar_info, load_avatar
from app.avatar.model import PartRole
from app.avatar.rig import rig_from_weights
from app.render.offscreen import OffscreenRenderer
from tests.test_vrm import (
    VISEMES,
    assert_rendered_mouth_opens_with_the_speech,
    split_glb,
    weights,
)

GODETTE_1 = Path(__file__).parent / "vrm" / "Godette_vrm1.vrm"


@pytest.fixture(scope="module")
def avatar():
    return load_avatar(GODETTE_1)


def test_the_exporters_file_is_vrm1_and_loads_with_its_expressions(avatar):
    doc, _ = split_glb(GODETTE_1.read_bytes())
    assert "VRM" not in doc["extensions"] and doc["extensions"]["VRMC_vrm"]["specVersion"] == "1.0"
    assert doc["asset"]["generator"].startswith("VRM Add-on for Blender")
    assert avatar.vrm["version"] == "1.0"
    assert set(VISEMES) | {"blink", "blinkLeft", "blinkRight", "happy", "angry", "sad",
                           "relaxed", "lookUp", "lookDown", "lookLeft", "lookRight"} <= set(avatar.channels)
    assert avatar.vrm["expressions_without_morph_binds"] == ["neutral", "surprised"]
    info = json.loads(json.dumps(avatar_info(avatar, GODETTE_1)))["vrm"]
    assert info["authors"] == ["SirRichard94", "Lyuma"]
    assert "expressions" in avatar.vrm["gaze"]  # look-at by expressions, as in her 0.x file
    assert avatar.part(PartRole.SKIN).morph_positions.shape[0] == len(avatar.channels)


def test_the_rig_drives_visemes_blinks_emotions_and_look_at(avatar):
    assert max(weights(avatar).values()) == 0  # silence and rest: nothing on
    assert weights(avatar, jawOpen=0.8)["aa"] > 0.9
    w = weights(avatar, jawOpen=0.6, mouthFunnel=0.7)
    assert max(VISEMES, key=w.get) == "oh" and sum(w[v] for v in VISEMES) <= 1 + 1e-6
    w = weights(avatar, eyeBlinkLeft=1.0)
    assert w["blinkLeft"] == 1 and w["blinkRight"] == 0 and w["blink"] == 0
    assert weights(avatar, mouthSmileLeft=1, mouthSmileRight=1)["happy"] > 0.5
    left = weights(avatar, gazeYaw=0.3)  # the avatar looks to its own left
    assert left["lookLeft"] > 0.3 and left["lookRight"] == 0
    down = weights(avatar, gazePitch=-0.2)
    assert down["lookDown"] > 0.3 and down["lookUp"] == 0


def _iris_x(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean column of the iris's green pixels inside (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    patch = image[y0:y1, x0:x1].astype(int)
    green = (patch[..., 1] > patch[..., 0] + 40) & (patch[..., 1] > 90)
    assert green.sum() > 5, "no iris in the eye's box"
    return x0 + float(np.nonzero(green)[1].mean())


def test_mouth_eyelids_and_eyes_move_on_screen(ctx, avatar):
    size = 192
    renderer = OffscreenRenderer(avatar, size, size, samples=0, ctx=ctx)
    face = avatar.part(PartRole.SKIN)

    def pixel_of(channel: str) -> np.ndarray:
        moved = np.abs(face.morph_positions[avatar.channels.index(channel)]).sum(axis=1) > 1e-5
        return np.round(renderer.view.project(face.positions[moved].mean(axis=0))[0]).astype(int)

    neutral = renderer.render_frame()
    speaking = renderer.render_frame(rig_from_weights({"jawOpen": 0.9}))
    blinking = renderer.render_frame(rig_from_weights({"eyeBlinkLeft": 1.0}))
    looking = renderer.render_frame(rig_from_weights({"gazeYaw": 0.3}))
    mouth, left_eye, right_eye = pixel_of("aa"), pixel_of("blinkLeft"), pixel_of("blinkRight")
    renderer.release()

    def change(a, b, center, r: int = 10) -> float:
        x, y = center
        return float(np.abs(a[y - r:y + r + 1, x - r:x + r + 1].astype(int)
                            - b[y - r:y + r + 1, x - r:x + r + 1]).mean())

    assert change(neutral, speaking, mouth) > 4 * change(neutral, speaking, left_eye) + 1
    assert change(neutral, blinking, left_eye) > 4 * change(neutral, blinking, right_eye) + 1
    assert left_eye[0] > right_eye[0]  # the avatar's left eye is on the picture's right
    for eye in (left_eye, right_eye):  # both irises move to the avatar's left
        box = (eye[0] - 16, eye[1] - 14, eye[0] + 17, eye[1] + 15)
        assert _iris_x(looking, box) > _iris_x(neutral, box) + 1.0


def test_render_speech_opens_the_mouth_when_it_speaks(tmp_path):
    """`liveface render --audio ... --avatar Godette_vrm1.vrm` PNG frames: the mouth, found
    by projecting the avatar's own "aa" binds, is darker (open) in loud frames than in
    quiet ones."""
    assert_rendered_mouth_opens_with_the_speech(GODETTE_1, tmp_path)
