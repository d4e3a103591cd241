"""VRM avatars: real VRM 0.x and 1.0 files load, the rig drives their expressions, and the
mouth moves on screen.

The fixtures in tests/vrm/ were made by others (origins and licences in tests/vrm/LICENSE.md):
Godette (VRM 0.x, a low-poly full-body character with visemes, blinks and look-at blend
shapes), Cool_loops (VRM 0.x from another exporter: visemes and one blink for both eyes)
and the VRM Consortium's isBinary feature test (VRM 1.0, expressions without morph
targets). Variants that need a VRM 1.0 or perfect-sync face are rewritten from Godette's
JSON in the test, never built from nothing.
"""

import copy
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from app.avatar.gltf import avatar_info, load_avatar
from app.avatar.model import PartRole
from app.avatar.rig import ARKIT_NAMES, rig_from_weights
from app.errors import LivefaceError
from app.render.offscreen import OffscreenRenderer

VRM_DIR = Path(__file__).parent / "vrm"
GODETTE = VRM_DIR / "Godette_vrm_v4.vrm"
COOL_LOOPS = VRM_DIR / "Cool_loops.vrm"
VRM1_SAMPLE = VRM_DIR / "VRMC_vrm_expressions_isBinary_Overrides.vrm"
VISEMES = ("aa", "ih", "ou", "ee", "oh")
SAMPLE_WAV = str(Path(__file__).resolve().parents[1] / "assets" / "audio" / "sample.wav")


@pytest.fixture(scope="module")
def godette():
    return load_avatar(GODETTE)


def weights(avatar, **rig) -> dict[str, float]:
    return dict(zip(avatar.channels, avatar.channel_weights(rig_from_weights(rig)).tolist(), strict=True))


def split_glb(raw: bytes) -> tuple[dict, bytes]:
    length = struct.unpack_from("<I", raw, 12)[0]
    return json.loads(raw[20:20 + length]), raw[20 + length:]


def join_glb(doc: dict, rest: bytes) -> bytes:
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


def godette_variant(tmp_path: Path, change, name: str = "variant.vrm") -> Path:
    doc, rest = split_glb(GODETTE.read_bytes())
    change(doc)
    out = tmp_path / name
    out.write_bytes(join_glb(doc, rest))
    return out


# ---- loading real files ----

def test_vrm0_godette_loads_with_its_expressions_and_textures(godette):
    assert godette.vrm["version"] == "0.x"
    assert godette.vrm["authors"] == ["SirRichard94"]
    for name in (*VISEMES, "blink", "blinkLeft", "blinkRight", "happy", "angry", "sad", "relaxed",
                 "lookUp", "lookDown", "lookLeft", "lookRight"):
        assert name in godette.channels, name
    assert godette.vrm["look_at"] == "expression"
    assert set(godette.vrm["bones"]) >= {"head", "neck"}
    assert all(p.material.base_color_texture is not None for p in godette.parts)
    assert all(p.material.toon for p in godette.parts)
    face = godette.part(PartRole.SKIN)
    assert face is not None and face.name == "Face"
    # the ARKit controls that reach her expressions; the others stay still (as info says)
    assert {"jawOpen", "mouthFunnel", "eyeBlinkLeft", "browDownLeft"} <= set(godette.target_names)
    assert "cheekPuff" in avatar_info(godette, GODETTE)["missing_targets"]


def test_vrm0_is_turned_to_face_plus_z_and_framed_on_the_head(godette):
    face = godette.part(PartRole.SKIN)
    mouth = np.abs(face.morph_positions[godette.channels.index("aa")]).sum(axis=1) > 1e-5
    low, high = godette.frame_bounds()
    head_center = (low + high) / 2
    # the mouth is on the +Z side of the head, below the head's middle
    assert face.positions[mouth, 2].mean() > head_center[2]
    assert face.positions[mouth, 1].mean() < head_center[1]
    whole_low, whole_high = godette.bounds()
    assert high[1] - low[1] < 0.5 * (whole_high[1] - whole_low[1])  # a head, not the body
    assert low[1] <= godette.neck_pivot[1] <= high[1]


def test_vrm0_head_turns_and_the_body_stays(godette):
    body = [p for p in godette.parts if p.role is PartRole.OTHER]
    weights_all = np.concatenate([p.head_weights for p in body])
    assert (weights_all < 0.01).mean() > 0.5 and (weights_all > 0.99).any()
    assert np.all(godette.part(PartRole.SKIN).head_weights > 0.99)


def test_vrm1_sample_loads_and_says_what_it_lacks():
    avatar = load_avatar(VRM1_SAMPLE)
    assert avatar.vrm["version"] == "1.0"
    assert avatar.vrm["expressions"] == ["happy", "blink"]
    assert avatar.vrm["expressions_without_morph_binds"] == ["happy", "blink"]
    assert avatar.channels == () and avatar.vrm["driven"] == {}
    info = avatar_info(avatar, VRM1_SAMPLE)
    assert json.loads(json.dumps(info))["vrm"]["license"] == "https://vrm.dev/licenses/1.0/"


VRM1_PRESETS = {"a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh", "blink_l": "blinkLeft",
                "blink_r": "blinkRight", "joy": "happy"}


def godette_as_vrm1(tmp_path: Path, happy: dict | None = None) -> Path:
    """Godette's groups rewritten the VRM 1.0 way: binds by node, weights 0..1, bones by
    name; `happy` adds fields (overrides, isBinary) to the happy expression."""
    def to_vrm1(doc):
        old = doc["extensions"].pop("VRM")
        face_node = next(i for i, n in enumerate(doc["nodes"]) if n.get("mesh") == 0)
        expressions = {}
        for group in old["blendShapeMaster"]["blendShapeGroups"]:
            if group["presetName"] in VRM1_PRESETS:
                binds = [{"node": face_node, "index": b["index"], "weight": b["weight"] / 100}
                         for b in group["binds"]]
                expressions[VRM1_PRESETS[group["presetName"]]] = {"morphTargetBinds": binds}
        expressions["happy"].update(happy or {})
        bones = {b["bone"]: {"node": b["node"]} for b in old["humanoid"]["humanBones"]}
        doc["extensions"]["VRMC_vrm"] = {"specVersion": "1.0", "meta": {"name": "Godette as 1.0"},
                                         "humanoid": {"humanBones": bones},
                                         "expressions": {"preset": expressions},
                                         "lookAt": {"type": "bone"}}
        doc["extensionsUsed"] = ["VRMC_vrm"]

    return godette_variant(tmp_path, to_vrm1, name="godette_1.vrm")


def test_vrm1_morph_binds_name_nodes(tmp_path):
    avatar = load_avatar(godette_as_vrm1(tmp_path))
    assert avatar.vrm["version"] == "1.0"
    assert set(avatar.channels) == set(VRM1_PRESETS.values())
    assert weights(avatar, jawOpen=0.8)["aa"] > 0.8
    assert "gaze" in avatar.vrm and "eye bones" in avatar.vrm["gaze"]


def test_vrm1_binary_expressions_and_overrides(tmp_path):
    """isBinary snaps at 0.5; an active expression blocks or blends the groups it overrides."""
    avatar = load_avatar(godette_as_vrm1(tmp_path, {"isBinary": True, "overrideBlink": "block",
                                                    "overrideMouth": "blend"}))
    smile = {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}  # happy 0.7 by the mapping: on
    w = weights(avatar, eyeBlinkLeft=1.0, jawOpen=0.5, **smile)
    assert w["happy"] == 1 and w["blinkLeft"] == 0  # blocked
    assert w["aa"] == 0  # blended by 1 - happy = 0
    weak = weights(avatar, eyeBlinkLeft=1.0, mouthSmileLeft=0.4, mouthSmileRight=0.4)
    assert weak["happy"] == 0 and weak["blinkLeft"] == 1  # happy 0.28 is off: no override


def test_perfect_sync_vrm_is_driven_by_arkit_names(tmp_path):
    """Groups named like ARKit shapes (as perfect-sync VRoid avatars have) take the rig's
    52 weights directly and the visemes are left alone."""
    def perfect_sync(doc):
        groups = doc["extensions"]["VRM"]["blendShapeMaster"]["blendShapeGroups"]
        for k, name in enumerate(ARKIT_NAMES):
            target = 5 if name == "jawOpen" else k % 15
            groups.append({"name": name[0].upper() + name[1:], "presetName": "unknown",
                           "binds": [{"mesh": 0, "index": target, "weight": 100}]})

    avatar = load_avatar(godette_variant(tmp_path, perfect_sync))
    assert avatar.vrm["mode"].startswith("perfect sync")
    w = weights(avatar, jawOpen=0.6, eyeBlinkLeft=0.3)
    assert w["JawOpen"] == pytest.approx(0.6) and w["EyeBlinkLeft"] == pytest.approx(0.3)
    assert w["aa"] == 0 and w["blinkLeft"] == 0
    assert avatar.target_names == ARKIT_NAMES



def godette_with_eye_bones(tmp_path: Path) -> Path:
    """Godette with her irises skinned to new leftEye/rightEye bones under the head and
    look-at by bones (as VRoid avatars have): bones appended to the skin, new JOINTS_0 and
    WEIGHTS_0 for the face, both written after the original binary data."""
    from app.avatar.gltf_data import GltfData

    source = GltfData(GODETTE)
    doc, rest = split_glb(GODETTE.read_bytes())
    blob = bytearray(rest[8:])
    vrm = doc["extensions"]["VRM"]
    face = doc["meshes"][0]["primitives"][0]
    positions = source.accessor(face["attributes"]["POSITION"])
    irises = np.abs(source.accessor(face["targets"][12]["POSITION"])).sum(axis=1) > 1e-6  # look_left
    head = next(b["node"] for b in vrm["humanoid"]["humanBones"] if b["bone"] == "head")
    parent = {c: i for i, n in enumerate(doc["nodes"]) for c in n.get("children", [])}
    head_world, node = np.zeros(3), head
    while node is not None:  # this rig's bones carry translations only
        assert "rotation" not in doc["nodes"][node] and "scale" not in doc["nodes"][node]
        head_world += doc["nodes"][node].get("translation", (0, 0, 0))
        node = parent.get(node)
    skin = doc["skins"][0]
    inverse_bind = list(source.accessor(skin["inverseBindMatrices"]).reshape(-1, 16))
    joints = source.accessor(face["attributes"]["JOINTS_0"]).astype(np.uint16)
    weights = source.accessor(face["attributes"]["WEIGHTS_0"]).astype(np.float32)
    for bone, side in (("leftEye", positions[:, 0] < 0), ("rightEye", positions[:, 0] > 0)):
        mine = irises & side  # VRM 0.x faces -Z: the avatar's left is -X
        center = positions[mine].mean(axis=0) - [0.0, 0.0, -0.03]  # behind the iris
        doc["nodes"].append({"name": bone, "translation": (center - head_world).tolist()})
        doc["nodes"][head].setdefault("children", []).append(len(doc["nodes"]) - 1)
        vrm["humanoid"]["humanBones"].append({"bone": bone, "node": len(doc["nodes"]) - 1})
        skin["joints"].append(len(doc["nodes"]) - 1)
        matrix = np.eye(4)
        matrix[:3, 3] = -center
        inverse_bind.append(matrix.T.ravel())  # column-major
        joints[mine] = [len(skin["joints"]) - 1, 0, 0, 0]
        weights[mine] = [1.0, 0.0, 0.0, 0.0]

    def append(array: np.ndarray, component: int, kind: str) -> int:
        blob.extend(b"\0" * (-len(blob) % 4))
        doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob), "byteLength": array.nbytes})
        blob.extend(array.tobytes())
        doc["accessors"].append({"bufferView": len(doc["bufferViews"]) - 1, "componentType": component,
                                 "count": len(array), "type": kind})
        return len(doc["accessors"]) - 1

    skin["inverseBindMatrices"] = append(np.asarray(inverse_bind, np.float32), 5126, "MAT4")
    face["attributes"]["JOINTS_0"] = append(joints, 5123, "VEC4")
    face["attributes"]["WEIGHTS_0"] = append(weights, 5126, "VEC4")
    blob.extend(b"\0" * (-len(blob) % 4))
    doc["buffers"][0]["byteLength"] = len(blob)
    vrm["firstPerson"]["lookAtTypeName"] = "Bone"
    for key in ("lookAtHorizontalOuter", "lookAtHorizontalInner", "lookAtVerticalUp", "lookAtVerticalDown"):
        vrm["firstPerson"][key] = {"xRange": 30.0, "yRange": 20.0}
    out = tmp_path / "godette_eye_bones.vrm"
    out.write_bytes(join_glb(doc, struct.pack("<II", len(blob), 0x004E4942) + bytes(blob)))
    return out


def test_eye_bones_split_the_irises_into_eye_parts(tmp_path):
    avatar = load_avatar(godette_with_eye_bones(tmp_path))
    left, right = avatar.part(PartRole.EYE_LEFT), avatar.part(PartRole.EYE_RIGHT)
    assert left is not None and right is not None
    assert avatar.eye_centers[PartRole.EYE_LEFT][0] > 0 > avatar.eye_centers[PartRole.EYE_RIGHT][0]
    assert left.positions[:, 0].min() > 0  # turned to face +Z: the left eye on +X
    assert avatar.gaze_gain == pytest.approx((20 / 30, 20 / 30))
    assert "eye bones" in avatar.vrm["gaze"] and "lookLeft" not in avatar.vrm["driven"]
    assert avatar.triangle_count == load_avatar(GODETTE).triangle_count  # cut, not lost


def test_gaze_turns_the_eye_bones_on_screen(ctx, tmp_path):
    avatar = load_avatar(godette_with_eye_bones(tmp_path))
    renderer = OffscreenRenderer(avatar, 256, 256, samples=0, ctx=ctx)
    center = renderer.view.project(avatar.eye_centers[PartRole.EYE_LEFT])[0]

    def iris_x(image: np.ndarray) -> float:
        x, y = np.round(center).astype(int)
        patch = image[y - 20:y + 21, x - 20:x + 21].astype(float)
        green = patch[..., 1] - patch[..., 0]  # Godette's irises are green-blue on pink skin
        ys, xs = np.nonzero(green > 40)
        assert len(xs) > 10
        return float(xs.mean())

    ahead = iris_x(renderer.render_frame())
    left = iris_x(renderer.render_frame(rig_from_weights({"gazeYaw": 0.5})))
    right = iris_x(renderer.render_frame(rig_from_weights({"gazeYaw": -0.5})))
    renderer.release()
    assert left > ahead + 1.5 and right < ahead - 1.5  # the avatar's left is the picture's right



def test_arkit_named_morph_targets_make_a_perfect_sync_vrm(tmp_path):
    """A VRM whose groups are the presets but whose face targets carry the 52 ARKit names
    (the targets here reuse Godette's own deltas) is driven through those targets."""
    def arkit_targets(doc):
        prim = doc["meshes"][0]["primitives"][0]
        own = prim["targets"]
        prim["targets"] = [own[5] if name == "jawOpen" else own[k % len(own)]
                           for k, name in enumerate(ARKIT_NAMES)]
        doc["meshes"][0]["extras"] = {"targetNames": [f"blendShape1.{n}" for n in ARKIT_NAMES]}
        prim.pop("extras", None)
        doc["meshes"][0].pop("weights", None)

    avatar = load_avatar(godette_variant(tmp_path, arkit_targets))
    assert avatar.channels == ARKIT_NAMES
    assert "ARKit-named morph targets" in avatar.vrm["mode"]
    w = weights(avatar, jawOpen=0.7)
    assert w["jawOpen"] == pytest.approx(0.7) and sum(w.values()) == pytest.approx(0.7)


# ---- the mapping from the rig to expressions ----

def test_open_jaw_says_aa_and_silence_says_nothing(godette):
    assert max(weights(godette).values()) == 0
    w = weights(godette, jawOpen=0.8)
    assert w["aa"] > 0.9 and all(w[v] < 0.05 for v in ("ih", "ou", "ee", "oh"))


@pytest.mark.parametrize("rig, viseme", [
    ({"jawOpen": 0.6, "mouthFunnel": 0.7}, "oh"),
    ({"mouthPucker": 0.9}, "ou"),
    ({"jawOpen": 0.5, "mouthStretchLeft": 0.8, "mouthStretchRight": 0.8}, "ee"),
    ({"jawOpen": 0.05, "mouthStretchLeft": 0.7, "mouthStretchRight": 0.7}, "ih"),
])
def test_mouth_shapes_pick_their_viseme(godette, rig, viseme):
    w = weights(godette, **rig)
    assert max(VISEMES, key=w.get) == viseme
    assert sum(w[v] for v in VISEMES) <= 1.0 + 1e-6


def test_blinks_emotions_and_gaze_drive_their_expressions(godette):
    w = weights(godette, eyeBlinkLeft=1.0)
    assert w["blinkLeft"] == 1 and w["blinkRight"] == 0 and w["blink"] == 0
    # Godette's Blink_L and Blink_R are binary: shut past half way, open below
    assert weights(godette, eyeBlinkLeft=0.6)["blinkLeft"] == 1
    assert weights(godette, eyeBlinkLeft=0.4)["blinkLeft"] == 0
    assert weights(godette, mouthSmileLeft=1, mouthSmileRight=1)["happy"] > 0.5
    assert weights(godette, browDownLeft=1, browDownRight=1)["angry"] > 0.5
    assert weights(godette, mouthFrownLeft=1, mouthFrownRight=1, browInnerUp=1)["sad"] > 0.5
    left = weights(godette, gazeYaw=0.3)  # the avatar looks to its own left
    assert left["lookLeft"] > 0.3 and left["lookRight"] == 0
    down = weights(godette, gazePitch=-0.2)
    assert down["lookDown"] > 0.3 and down["lookUp"] == 0


def test_avatar_without_separate_blinks_closes_both_eyes_together(tmp_path):
    def no_single_blinks(doc):
        groups = doc["extensions"]["VRM"]["blendShapeMaster"]["blendShapeGroups"]
        groups[:] = [g for g in groups if g["presetName"] not in ("blink_l", "blink_r")]

    avatar = load_avatar(godette_variant(tmp_path, no_single_blinks))
    assert weights(avatar, eyeBlinkLeft=1.0, eyeBlinkRight=0.9)["blink"] == pytest.approx(0.9)
    assert weights(avatar, eyeBlinkLeft=1.0)["blink"] == 0


# ---- on screen ----

def test_rendered_mouth_opens_and_the_eye_blinks(ctx, godette):
    renderer = OffscreenRenderer(godette, 160, 160, samples=0, ctx=ctx)
    face = godette.part(PartRole.SKIN)

    def pixel_of(channel: str) -> np.ndarray:
        moved = np.abs(face.morph_positions[godette.channels.index(channel)]).sum(axis=1) > 1e-5
        return renderer.view.project(face.positions[moved].mean(axis=0))[0]

    neutral = renderer.render_frame()
    speaking = renderer.render_frame(rig_from_weights({"jawOpen": 0.9}))
    blinking = renderer.render_frame(rig_from_weights({"eyeBlinkLeft": 1.0}))
    mouth, left_eye, right_eye = pixel_of("aa"), pixel_of("blinkLeft"), pixel_of("blinkRight")
    renderer.release()

    def change(a, b, center) -> float:
        x, y = np.round(center).astype(int)
        return float(np.abs(a[y - 8:y + 9, x - 8:x + 9].astype(int) - b[y - 8:y + 9, x - 8:x + 9]).mean())

    assert change(neutral, speaking, mouth) > 4 * change(neutral, speaking, left_eye) + 1
    assert change(neutral, blinking, left_eye) > 4 * change(neutral, blinking, right_eye) + 1
    assert left_eye[0] > right_eye[0]  # the avatar's left eye is on the picture's right
    assert 0.55 < mouth[1] / 160 < 0.95  # the head is framed: the mouth in the lower half


def test_second_vrm0_exporter_speaks_and_blinks_both_eyes(ctx):
    """Cool_loops (VRM Add-on for Blender): one skinned mesh, one blink for both eyes."""
    avatar = load_avatar(COOL_LOOPS)
    assert set(VISEMES) | {"blink"} <= set(avatar.channels)
    assert {"blinkLeft", "lookLeft"} <= set(avatar.vrm["expressions_without_morph_binds"])
    assert weights(avatar, eyeBlinkLeft=1.0, eyeBlinkRight=1.0)["blink"] == 1
    renderer = OffscreenRenderer(avatar, 128, 128, samples=0, ctx=ctx)
    skin = avatar.part(PartRole.SKIN)

    def pixel_of(channel: str) -> np.ndarray:
        moved = np.abs(skin.morph_positions[avatar.channels.index(channel)]).sum(axis=1) > 1e-5
        return np.round(renderer.view.project(skin.positions[moved].mean(axis=0))[0]).astype(int)

    neutral = renderer.render_frame()
    speaking = renderer.render_frame(rig_from_weights({"jawOpen": 0.9}))
    blinking = renderer.render_frame(rig_from_weights({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}))
    (mx, my), (ex, ey) = pixel_of("aa"), pixel_of("blink")
    renderer.release()
    changed = np.abs(neutral.astype(int) - speaking).sum(-1) > 30
    assert changed[my - 6:my + 7, mx - 10:mx + 11].sum() >= 4 and changed.sum() < 400
    blinked = np.abs(neutral.astype(int) - blinking).sum(-1) > 30
    assert blinked[ey - 6:ey + 7, ex - 16:ex + 17].sum() >= 2


def test_mtoon_outlines_draw_thin_lines_at_the_silhouette(ctx, godette):
    """Godette's MToon materials ask for screen-space outlines mixed with the lit colour;
    without them the picture differs only in thin lines along edges."""
    from dataclasses import replace

    assert godette.part(PartRole.SKIN).material.outline_width > 0
    plain = replace(godette, parts=tuple(replace(p, material=replace(p.material, outline_width=0.0))
                                         for p in godette.parts))
    pictures = []
    for avatar in (godette, plain):
        renderer = OffscreenRenderer(avatar, 200, 200, samples=0, ctx=ctx)
        pictures.append(renderer.render_frame().astype(int))
        renderer.release()
    changed = np.abs(pictures[0] - pictures[1]).sum(-1) > 20
    assert 0.002 < changed.mean() < 0.08  # lines, not areas


def test_vrm1_sample_shows_its_green_window_through_the_texture_transform(ctx):
    """The sample's window shows one cell of an atlas picked by KHR_texture_transform: green
    ticks at rest, red crosses if the transform were ignored (its README says so)."""
    avatar = load_avatar(VRM1_SAMPLE)
    renderer = OffscreenRenderer(avatar, 96, 96, samples=0, ctx=ctx)
    image = renderer.render_frame(rig_from_weights({"jawOpen": 1.0, "eyeBlinkLeft": 1.0}))
    renderer.release()
    background = image[0, 0].astype(int)
    drawn = image[np.abs(image.astype(int) - background).sum(-1) > 30].astype(int)
    assert len(drawn) > 0.2 * 96 * 96
    green, red = drawn[:, 1] > drawn[:, 0] + 40, drawn[:, 0] > drawn[:, 1] + 40
    assert green.mean() > 0.6 and red.mean() < 0.05


# ---- safety: a VRM is a glTF file and obeys the same rules ----

def _break(doc: dict, where: str, value) -> None:
    vrm = doc["extensions"]["VRM"]
    groups = vrm["blendShapeMaster"]["blendShapeGroups"]
    targets = {
        "bind mesh": lambda: groups[1]["binds"][0].__setitem__("mesh", value),
        "bind index": lambda: groups[1]["binds"][0].__setitem__("index", value),
        "bind weight": lambda: groups[1]["binds"][0].__setitem__("weight", value),
        "groups": lambda: vrm["blendShapeMaster"].__setitem__("blendShapeGroups", value),
        "humanoid": lambda: vrm.__setitem__("humanoid", value),
        "head bone": lambda: vrm["humanoid"]["humanBones"][4].__setitem__("node", value),
        "first person": lambda: vrm.__setitem__("firstPerson", value),
        "look range": lambda: vrm["firstPerson"]["lookAtHorizontalOuter"].__setitem__("xRange", value),
        "material props": lambda: vrm.__setitem__("materialProperties", value),
        "skin joints": lambda: doc["skins"][0].__setitem__("joints", value),
        "ibm": lambda: doc["skins"][0].__setitem__("inverseBindMatrices", value),
        "node skin": lambda: doc["nodes"][next(i for i, n in enumerate(doc["nodes"]) if "mesh" in n)].__setitem__("skin", value),
    }
    targets[where]()


@pytest.mark.parametrize("where", ["bind mesh", "bind index", "bind weight", "groups", "humanoid",
                                   "head bone", "first person", "look range", "material props",
                                   "skin joints", "ibm", "node skin"])
def test_malformed_vrm_extension_is_a_clear_error(tmp_path, where):
    for number, value in enumerate(["x", -1, 10**9, None, [], {}, 1e308]):
        path = godette_variant(tmp_path, lambda doc: _break(doc, where, copy.deepcopy(value)),
                               name=f"bad{number}.vrm")
        try:
            load_avatar(path)
        except LivefaceError as err:
            assert "\n" not in str(err) and str(path) in str(err)


def test_vrm_buffers_may_not_leave_the_folder(tmp_path):
    def escape(doc):
        doc["buffers"][0]["uri"] = "../outside.bin"

    with pytest.raises(LivefaceError, match="outside"):
        load_avatar(godette_variant(tmp_path, escape))


def test_truncated_vrm_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.vrm"
    path.write_bytes(GODETTE.read_bytes()[:100_000])
    with pytest.raises(LivefaceError, match="truncated"):
        load_avatar(path)


# ---- the command line: speech on a VRM ----

def test_render_speech_on_a_vrm_opens_the_mouth_when_it_speaks(tmp_path):
    """`liveface render --audio ... --avatar godette.vrm` PNG frames: the mouth, found by
    projecting the avatar's own "aa" binds, is darker (open) in loud frames than in quiet ones."""
    assert_rendered_mouth_opens_with_the_speech(GODETTE, tmp_path)


def assert_rendered_mouth_opens_with_the_speech(avatar_path: Path, tmp_path: Path) -> None:
    """Renders SAMPLE_WAV on the avatar as PNG frames and finds the mouth by projecting its
    own "aa" binds: darker (open) in loud frames than in quiet ones, and open in some."""
    from PIL import Image

    from app.audio.io import read_audio
    from app.cli import main
    from app.render.camera import portrait_view

    size, fps, frames = 128, 25, 100
    out = tmp_path / "frames"
    assert main(["render", "--audio", SAMPLE_WAV, "--avatar", str(avatar_path), "--out",
                 str(out), "--size", f"{size}x{size}", "--fps", str(fps), "--frames",
                 str(frames), "--no-voice-profile"]) == 0
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.glob("frame_*.png"))]
    assert len(images) == frames

    avatar = load_avatar(avatar_path)
    face = avatar.part(PartRole.SKIN)
    moved = np.abs(face.morph_positions[avatar.channels.index("aa")]).sum(axis=1) > 1e-5
    x, y = np.round(portrait_view(avatar.frame_bounds(), size, size).project(
        face.positions[moved].mean(axis=0))[0]).astype(int)
    r = size // 12
    dark = np.array([(im[y - r:y + r + 1, x - r:x + r + 1].astype(int).sum(-1) < 120).sum()
                     for im in images])

    audio = read_audio(Path(SAMPLE_WAV))
    step = len(audio) // int(len(audio) / 16000 * fps)
    energy = np.array([np.sqrt(np.mean(audio[k * step:(k + 1) * step] ** 2))
                       for k in range(frames)])
    loud, quiet = energy > np.percentile(energy, 70), energy < np.percentile(energy, 20)
    assert dark[loud].mean() > 2 * dark[quiet].mean() + 2, (dark[loud].mean(), dark[quiet].mean())
    assert dark.max() > 6  # some frames show an open mouth, not a line


@pytest.mark.parametrize("fixture, limit", [(VRM1_SAMPLE, None), (COOL_LOOPS, 50),
                                            (VRM_DIR / "Godette_vrm1.vrm", 50)])
def test_damaged_vrm_files_load_or_fail_cleanly_and_quickly(tmp_path, fixture, limit):
    """The glTF fuzz test's mutants (cuts, byte flips, changed digits, lying lengths, extreme
    numbers and wrong types anywhere in the JSON, the VRM extension included) of real VRMs:
    each loads or ends in a one-line LivefaceError within 2 s. Cool_loops (skinned, 1 MB)
    and Godette as another program writes her in VRM 1.0 take 50 JSON mutants only, to keep
    the test short."""
    import itertools
    import time

    from tests.test_gltf_safety import SECONDS_PER_LOAD, _mutants

    failures, path = [], tmp_path / "mutant.vrm"
    mutants = _mutants(fixture.read_bytes(), np.random.default_rng(4321))
    if limit is not None:
        mutants = itertools.islice((m for m in mutants if " = " in m[0] and "length" not in m[0]), limit)
    count = 0
    for name, content in mutants:
        path.write_bytes(content)
        count += 1
        start = time.perf_counter()
        try:
            load_avatar(path)
        except LivefaceError as err:
            if "\n" in str(err):
                failures.append(f"{name}: a message of several lines: {err}")
        except Exception as err:  # noqa: BLE001 - anything else is the bug this test hunts
            failures.append(f"{name}: {type(err).__name__}: {err}")
        if time.perf_counter() - start > SECONDS_PER_LOAD:
            failures.append(f"{name}: took too long")
    assert not failures, "\n".join(failures)
    assert count >= (limit or 250)


def test_hostile_sizes_are_refused_before_allocating(tmp_path):
    def many_expressions(doc):
        groups = doc["extensions"]["VRM"]["blendShapeMaster"]["blendShapeGroups"]
        groups += [{"name": f"x{k}", "presetName": "unknown",
                    "binds": [{"mesh": 0, "index": k % 15, "weight": 100}]} for k in range(300)]

    with pytest.raises(LivefaceError, match="too large.*expressions"):
        load_avatar(godette_variant(tmp_path, many_expressions))

    def huge_tree(doc):  # 50,000 nodes would take the schema library about a minute
        doc["nodes"] += [{} for _ in range(50_000)]

    with pytest.raises(LivefaceError, match="too large.*50"):
        load_avatar(godette_variant(tmp_path, huge_tree, name="huge.vrm"))


def test_bone_subtrees_take_one_pass_even_over_a_long_chain():
    import time

    import pygltflib as gl

    from app.avatar.vrm import _subtree

    nodes = [gl.Node(children=[k + 1]) for k in range(199_999)] + [gl.Node(children=[0])]  # a cycle
    start = time.perf_counter()
    inside = _subtree(nodes, 100_000)
    assert inside.all()  # the cycle leads back round to every node
    assert time.perf_counter() - start < 2.0
