"""Loading glTF avatars: the shipped default head, tiny hand-made files, and broken ones."""

import base64
import json
from pathlib import Path

import numpy as np
import pygltflib as gl
import pytest

from app.avatar.gltf import arkit_name, avatar_info, load_avatar
from app.avatar.model import PartRole
from app.avatar.rig import ARKIT_NAMES
from app.avatar.texture_controls import REGION_INDEX, REGIONS
from app.errors import LivefaceError
from app.resources import default_avatar_path

# ---------------------------------------------------------------- the shipped avatar


@pytest.fixture(scope="module")
def default_avatar():
    return load_avatar(default_avatar_path())


def _delta(avatar, name: str) -> np.ndarray:
    return avatar.part(PartRole.SKIN).morph_positions[ARKIT_NAMES.index(name)]


def test_default_avatar_has_all_targets_and_parts(default_avatar):
    assert default_avatar.target_names == ARKIT_NAMES
    roles = {p.role for p in default_avatar.parts}
    assert {PartRole.SKIN, PartRole.EYE_LEFT, PartRole.EYE_RIGHT, PartRole.TEETH, PartRole.TONGUE} <= roles
    for part in default_avatar.parts:
        assert part.indices.max() < part.vertex_count
        assert np.allclose(np.linalg.norm(part.normals, axis=1), 1.0, atol=1e-3)
        assert part.material.base_color_texture is None or part.material.base_color_texture.shape[2] == 4


def test_default_avatar_scale_and_landmarks(default_avatar):
    low, high = default_avatar.frame_bounds()
    assert 0.2 < high[1] - low[1] < 0.4  # head and neck, metres: what cameras frame
    bust_low, bust_high = default_avatar.bounds()
    assert 0.3 < bust_high[1] - bust_low[1] < 0.5 and bust_low[1] < low[1]  # with the top
    left, right = default_avatar.eye_centers[PartRole.EYE_LEFT], default_avatar.eye_centers[PartRole.EYE_RIGHT]
    assert left[0] > 0.0 > right[0]
    assert low[1] < default_avatar.neck_pivot[1] < left[1]
    eye = default_avatar.part(PartRole.EYE_LEFT)
    assert not np.any(eye.morph_positions)  # eyes rotate, they do not morph


def test_jaw_open_drops_the_chin_and_spares_the_forehead(default_avatar):
    skin = default_avatar.part(PartRole.SKIN)
    jaw = _delta(default_avatar, "jawOpen")
    chin = skin.regions == REGION_INDEX["mouth"]
    chin &= skin.positions[:, 1] < np.median(skin.positions[chin, 1])  # lower lip and below
    assert np.mean(jaw[chin, 1]) < -0.003
    forehead = skin.regions == REGION_INDEX["forehead"]
    assert forehead.sum() > 50
    assert np.abs(jaw[forehead]).max() < 1e-6


def test_blink_left_moves_only_the_left_eye_region(default_avatar):
    skin = default_avatar.part(PartRole.SKIN)
    moved = np.linalg.norm(_delta(default_avatar, "eyeBlinkLeft"), axis=1) > 1e-5
    assert moved.sum() > 20
    centre = default_avatar.eye_centers[PartRole.EYE_LEFT]
    assert np.all(skin.positions[moved, 0] > 0.0)
    assert np.linalg.norm(skin.positions[moved] - centre, axis=1).max() < 0.05


def test_default_avatar_has_every_region(default_avatar):
    regions = default_avatar.part(PartRole.SKIN).regions
    assert set(np.unique(regions).astype(int)) == set(range(-1, len(REGIONS)))


def test_avatar_info_is_json_ready(default_avatar):
    info = json.loads(json.dumps(avatar_info(default_avatar, default_avatar_path())))
    assert info["morph_targets"] == list(ARKIT_NAMES) and info["missing_targets"] == []
    assert {p["role"] for p in info["parts"]} >= {"skin", "eye_left", "eye_right", "teeth", "tongue"}
    assert info["vertices"] == sum(p["vertices"] for p in info["parts"])


def test_target_names_are_matched_leniently():
    assert arkit_name("jawOpen") == "jawOpen"
    assert arkit_name("blendShape1.jawOpen") == "jawOpen"
    assert arkit_name("ARKit_eyeBlinkLeft") == "eyeBlinkLeft"
    assert arkit_name("JawOpen") == "jawOpen"
    assert arkit_name("viseme_aa") is None


# ---------------------------------------------------------------- tiny hand-made files

TRIANGLE = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
TRI_INDICES = np.array([0, 1, 2, 2, 1, 3], dtype=np.uint16)


def _tiny_gltf(names=(), sparse_rows=None, translation=None, scale=None) -> gl.GLTF2:
    """A two-triangle quad with one morph target per name. Each target moves vertex 3 by
    +0.1 in z, densely or (with `sparse_rows`) through a sparse accessor."""
    blob = bytearray(TRIANGLE.tobytes() + TRI_INDICES.tobytes())
    doc = gl.GLTF2(asset=gl.Asset(version="2.0"))
    doc.bufferViews += [gl.BufferView(buffer=0, byteOffset=0, byteLength=48),
                        gl.BufferView(buffer=0, byteOffset=48, byteLength=12)]
    doc.accessors += [gl.Accessor(bufferView=0, componentType=gl.FLOAT, count=4, type=gl.VEC3,
                                  min=[0, 0, 0], max=[1, 1, 0]),
                      gl.Accessor(bufferView=1, componentType=gl.UNSIGNED_SHORT, count=6, type=gl.SCALAR)]
    prim = gl.Primitive(attributes=gl.Attributes(POSITION=0), indices=1)
    for _ in names:
        prim.targets.append({"POSITION": _add_target(doc, blob, sparse_rows)})
    doc.meshes.append(gl.Mesh(name="Head", primitives=[prim], extras={"targetNames": list(names)}))
    doc.nodes.append(gl.Node(name="Head", mesh=0, translation=translation, scale=scale))
    doc.scenes.append(gl.Scene(nodes=[0]))
    doc.scene = 0
    doc.buffers.append(gl.Buffer(byteLength=0))
    doc.set_binary_blob(bytes(blob))
    doc.buffers[0].byteLength = len(blob)
    return doc


def _add_target(doc: gl.GLTF2, blob: bytearray, sparse_rows) -> int:
    blob.extend(b"\0" * (-len(blob) % 4))
    if sparse_rows is None:
        delta = np.zeros((4, 3), np.float32)
        delta[3, 2] = 0.1
        doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=48))
        blob.extend(delta.tobytes())
        doc.accessors.append(gl.Accessor(bufferView=len(doc.bufferViews) - 1, componentType=gl.FLOAT,
                                         count=4, type=gl.VEC3, min=[0, 0, 0], max=[0, 0, 0.1]))
        return len(doc.accessors) - 1
    rows = np.asarray(sparse_rows, np.uint8)
    values = np.tile(np.array([0, 0, 0.1], np.float32), (len(rows), 1))
    doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=rows.nbytes))
    blob.extend(rows.tobytes() + b"\0" * (-rows.nbytes % 4))
    doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=values.nbytes))
    blob.extend(values.tobytes())
    sparse = gl.Sparse(count=len(rows),
                       indices=gl.AccessorSparseIndices(bufferView=len(doc.bufferViews) - 2,
                                                        componentType=gl.UNSIGNED_BYTE),
                       values=gl.AccessorSparseValues(bufferView=len(doc.bufferViews) - 1))
    doc.accessors.append(gl.Accessor(componentType=gl.FLOAT, count=4, type=gl.VEC3, sparse=sparse,
                                     min=[0, 0, 0], max=[0, 0, 0.1]))
    return len(doc.accessors) - 1


def _save_glb(doc: gl.GLTF2, path: Path) -> Path:
    path.write_bytes(b"".join(doc.save_to_bytes()))
    return path


def _save_gltf_with_data_uri(doc: gl.GLTF2, path: Path) -> Path:
    data = doc.binary_blob()
    doc.buffers[0].uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    doc._glb_data = None
    path.write_text(doc.gltf_to_json())
    return path


def test_sparse_target_and_node_transform_round_trip(tmp_path):
    doc = _tiny_gltf(["jawOpen"], sparse_rows=[3], translation=[0.0, 2.0, 0.0], scale=[2.0, 2.0, 2.0])
    avatar = load_avatar(_save_gltf_with_data_uri(doc, tmp_path / "tiny.gltf"), require_all_targets=False)
    part = avatar.parts[0]
    assert part.role is PartRole.SKIN and avatar.target_names == ("jawOpen",)
    assert np.allclose(part.positions, TRIANGLE * 2.0 + [0.0, 2.0, 0.0])
    jaw = part.morph_positions[ARKIT_NAMES.index("jawOpen")]
    assert np.allclose(jaw[3], [0.0, 0.0, 0.2]) and not np.any(jaw[:3])  # scaled by the node
    assert np.allclose(part.normals, [0.0, 0.0, 1.0])  # computed, none in the file
    assert part.uvs.shape == (4, 2) and not np.any(part.uvs)
    assert np.all(part.regions == -1)


def test_partial_targets_name_what_is_missing(tmp_path):
    path = _save_glb(_tiny_gltf(["jawOpen", "blendShape1.eyeBlinkLeft", "notARKit"]), tmp_path / "partial.glb")
    with pytest.raises(LivefaceError, match=r"lacks 50 of the 52 ARKit morph targets: eyeLookDownLeft"):
        load_avatar(path)
    avatar = load_avatar(path, require_all_targets=False)
    assert avatar.target_names == ("eyeBlinkLeft", "jawOpen")


def test_all_targets_load(tmp_path):
    avatar = load_avatar(_save_glb(_tiny_gltf(ARKIT_NAMES), tmp_path / "all.glb"))
    assert avatar.target_names == ARKIT_NAMES
    assert avatar.parts[0].morph_positions.shape == (52, 4, 3)


def test_missing_file_is_a_liveface_error(tmp_path):
    with pytest.raises(LivefaceError, match="does not exist"):
        load_avatar(tmp_path / "nowhere.glb")


def test_random_bytes_are_rejected(tmp_path):
    path = tmp_path / "noise.glb"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(LivefaceError, match="neither a glTF binary"):
        load_avatar(path)


@pytest.mark.parametrize("keep", [10, 30, 1000, -100])
def test_truncated_glb_is_rejected(tmp_path, keep):
    whole = default_avatar_path().read_bytes()
    path = tmp_path / "cut.glb"
    path.write_bytes(whole[:keep] if keep > 0 else whole[:keep])
    with pytest.raises(LivefaceError):
        load_avatar(path)


def test_no_morph_targets_is_rejected(tmp_path):
    with pytest.raises(LivefaceError, match="no morph targets with ARKit names"):
        load_avatar(_save_glb(_tiny_gltf(()), tmp_path / "static.glb"))


def test_no_meshes_is_rejected(tmp_path):
    path = tmp_path / "empty.gltf"
    path.write_text(json.dumps({"asset": {"version": "2.0"}, "scenes": [{"nodes": []}], "scene": 0}))
    with pytest.raises(LivefaceError, match="no triangle meshes"):
        load_avatar(path)


@pytest.mark.parametrize("breakage", ["accessor_count", "view_length", "index_value", "sparse_row", "accessor_index"])
def test_out_of_range_data_is_rejected(tmp_path, breakage):
    doc = _tiny_gltf(["jawOpen"], sparse_rows=[3])
    if breakage == "accessor_count":
        doc.accessors[0].count = 400
    elif breakage == "view_length":
        doc.bufferViews[0].byteLength = 10_000
    elif breakage == "index_value":
        doc.accessors[1].byteOffset = 2  # reads past the view
    elif breakage == "sparse_row":
        doc.accessors[2].count = 2  # the sparse row 3 no longer exists
    else:
        doc.meshes[0].primitives[0].attributes.POSITION = 42
    with pytest.raises(LivefaceError, match="not a valid glTF"):
        load_avatar(_save_glb(doc, tmp_path / f"{breakage}.glb"), require_all_targets=False)


def test_roles_are_inferred_from_names(tmp_path):
    doc = _tiny_gltf(ARKIT_NAMES)
    for name, translation in (("EyeLeft", [0.5, 0, 0]), ("Wolf3D_Teeth", [0, 0, 0]), ("eye_R", [-0.5, 0, 0])):
        doc.nodes.append(gl.Node(name=name, mesh=0, translation=translation))
        doc.scenes[0].nodes.append(len(doc.nodes) - 1)
    avatar = load_avatar(_save_glb(doc, tmp_path / "named.glb"))
    roles = {p.name: p.role for p in avatar.parts}
    assert roles == {"Head": PartRole.SKIN, "EyeLeft": PartRole.EYE_LEFT,
                     "Wolf3D_Teeth": PartRole.TEETH, "eye_R": PartRole.EYE_RIGHT}
    assert np.allclose(avatar.eye_centers[PartRole.EYE_LEFT], [1.0, 0.5, 0.0])


def test_wrongly_typed_fields_are_rejected(tmp_path):
    doc = _tiny_gltf(["jawOpen"])
    doc.accessors[0].count = "four"
    doc.nodes[0].extras = {"liveface_role": 5, "liveface_eye_center": "middle"}
    with pytest.raises(LivefaceError, match="(not a valid|malformed) glTF"):
        load_avatar(_save_glb(doc, tmp_path / "typed.glb"), require_all_targets=False)
    doc.accessors[0].count = 4
    avatar = load_avatar(_save_glb(doc, tmp_path / "typed.glb"), require_all_targets=False)
    assert avatar.parts[0].role is PartRole.SKIN  # unusable liveface extras are ignored
