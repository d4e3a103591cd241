"""`liveface animate --format gltf`: the take as a glTF animation that other readers accept
and that poses the avatar as the renderer does."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib as gl
import pytest

from app.avatar.gltf import load_avatar
from app.avatar.rig import RIG_INDEX, RIG_SIZE
from app.errors import LivefaceError
from app.inference import FaceTrack
from app.outputs.gltf_take import write_gltf_take
from app.outputs.track_file import track_format, write_track
from app.render.renderer import gaze_matrix, head_matrix
from app.resources import default_avatar_path

FRAMES = 12
GODETTE = Path(__file__).parent / "vrm" / "Godette_vrm_v4.vrm"


def _track() -> FaceTrack:
    rig = np.zeros((FRAMES, RIG_SIZE), np.float32)
    ramp = np.linspace(0.0, 1.0, FRAMES)
    rig[:, RIG_INDEX["jawOpen"]] = ramp
    rig[:, RIG_INDEX["eyeBlinkLeft"]] = ramp[::-1]
    rig[:, RIG_INDEX["headYaw"]] = 0.4 * ramp
    rig[:, RIG_INDEX["headPitch"]] = -0.2 * ramp
    rig[:, RIG_INDEX["headRoll"]] = 0.1 * ramp
    rig[:, RIG_INDEX["gazeYaw"]] = 0.3 * ramp
    rig[:, RIG_INDEX["gazePitch"]] = -0.2 * ramp
    return FaceTrack(rig, np.zeros((FRAMES, 6), np.float32), np.zeros((FRAMES, 6), np.float32))


def _values(doc: gl.GLTF2, index: int) -> np.ndarray:
    acc = doc.accessors[index]
    view = doc.bufferViews[acc.bufferView]
    data = doc.binary_blob()[view.byteOffset + (acc.byteOffset or 0):][: view.byteLength]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc.type]
    return np.frombuffer(data, np.float32, acc.count * width).reshape(acc.count, width)


def _local(node: gl.Node, rotation=None) -> np.ndarray:
    matrix = np.eye(4)
    x, y, z, w = rotation if rotation is not None else (node.rotation or (0, 0, 0, 1))
    matrix[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    matrix[:3, 3] = node.translation or (0, 0, 0)
    return matrix


def _world(doc: gl.GLTF2, target: int, rotations: dict[int, np.ndarray]) -> np.ndarray:
    """World matrix of node `target` with the animated rotations of one frame."""
    parent = {c: i for i, n in enumerate(doc.nodes) for c in n.children or []}
    matrix, node = np.eye(4), target
    while True:
        matrix = _local(doc.nodes[node], rotations.get(node)) @ matrix
        if node not in parent:
            return matrix
        node = parent[node]


@pytest.fixture
def take(tmp_path, tiny_avatar):
    path = write_gltf_take(_track(), tiny_avatar, tmp_path / "take.glb", source="test.wav")
    return gl.GLTF2().load(str(path)), path


def test_take_has_one_animation_of_weights_head_and_eyes(take, tiny_avatar):
    doc, _ = take
    (animation,) = doc.animations
    paths = sorted((doc.nodes[c.target.node].name, c.target.path) for c in animation.channels)
    meshes_with_targets = [n.name for n in doc.nodes
                           if n.mesh is not None and doc.meshes[n.mesh].weights]
    assert paths == sorted([(n, "weights") for n in meshes_with_targets]
                           + [("head", "rotation"), ("eye_left_pivot", "rotation"),
                              ("eye_right_pivot", "rotation")])
    for sampler in animation.samplers:
        times = doc.accessors[sampler.input]
        assert times.count == FRAMES and times.min == [0.0]
        assert times.max == pytest.approx([(FRAMES - 1) / 50])
        assert sampler.interpolation == "LINEAR"


def test_take_weights_are_the_track_in_target_order(take, tiny_avatar):
    doc, _ = take
    (animation,) = doc.animations
    channel = next(c for c in animation.channels if c.target.path == "weights")
    mesh = doc.meshes[doc.nodes[channel.target.node].mesh]
    names = mesh.extras["targetNames"]
    weights = _values(doc, animation.samplers[channel.sampler].output).reshape(FRAMES, len(names))
    track = _track().rig
    for name in ("jawOpen", "eyeBlinkLeft"):
        np.testing.assert_allclose(weights[:, names.index(name)], track[:, RIG_INDEX[name]],
                                   atol=1e-6)


def test_take_poses_the_head_and_eyes_as_the_renderer_does(take, tiny_avatar):
    doc, _ = take
    (animation,) = doc.animations
    rotations = {c.target.node: _values(doc, animation.samplers[c.sampler].output)
                 for c in animation.channels if c.target.path == "rotation"}
    rig = _track().rig[-1]
    for role, center in tiny_avatar.eye_centers.items():
        node = next(i for i, n in enumerate(doc.nodes) if n.name == role.value)
        point = np.append(center + [0.0, 0.0, 0.012], 1.0)  # the front of the eyeball
        frame = {k: v[-1] for k, v in rotations.items()}
        posed = _world(doc, node, frame) @ point
        expected = head_matrix(rig, tiny_avatar.neck_pivot) @ gaze_matrix(rig, center) @ point
        np.testing.assert_allclose(posed[:3], expected[:3], atol=1e-5)
        rest = _world(doc, node, {k: v[0] for k, v in rotations.items()}) @ point
        np.testing.assert_allclose(rest[:3], point[:3], atol=1e-6)


def test_take_loads_back_as_the_avatar_at_rest(take, tiny_avatar):
    _, path = take
    again = load_avatar(path, require_all_targets=False)
    for before, after in zip(tiny_avatar.parts, again.parts, strict=True):
        np.testing.assert_allclose(after.positions, before.positions, atol=1e-5)


def test_vrm_take_animates_its_expressions_and_keeps_the_body_still(tmp_path):
    avatar = load_avatar(GODETTE)
    path = write_gltf_take(_track(), avatar, tmp_path / "godette.glb")
    doc = gl.GLTF2().load(str(path))
    (animation,) = doc.animations
    assert {c.target.path for c in animation.channels} == {"weights"}
    channel = next(c for c in animation.channels
                   if doc.meshes[doc.nodes[c.target.node].mesh].weights)
    names = doc.meshes[doc.nodes[channel.target.node].mesh].extras["targetNames"]
    assert "aa" in names and "blinkLeft" in names
    weights = _values(doc, animation.samplers[channel.sampler].output).reshape(FRAMES, len(names))
    assert weights[-1, names.index("aa")] > 0.5 and weights[0, names.index("aa")] == 0
    assert weights[0, names.index("blinkLeft")] == 1 and weights[-1, names.index("blinkLeft")] == 0


def test_glb_suffix_means_gltf_and_a_take_needs_an_avatar(tmp_path):
    assert track_format(tmp_path / "a.glb") == "gltf"
    with pytest.raises(LivefaceError, match=".glb"):
        track_format(tmp_path / "a.csv", "gltf")
    with pytest.raises(LivefaceError, match="avatar"):
        write_track(_track(), tmp_path / "a.glb")


@pytest.mark.skipif(not os.environ.get("LIVEFACE_GLTF_VALIDATOR") or not shutil.which("node"),
                    reason="set LIVEFACE_GLTF_VALIDATOR to a folder with npm's gltf-validator "
                    "installed")
def test_khronos_validator_finds_no_errors(take, tmp_path):
    """The Khronos glTF validator (npm gltf-validator), where installed: no errors and no
    warnings, for a head's take, for a VRM's and for the shipped head itself."""
    _, head_take = take
    vrm_take = write_gltf_take(_track(), load_avatar(GODETTE), tmp_path / "godette.glb")
    script = ("const v=require('gltf-validator');v.validateBytes(new Uint8Array(require('fs')"
              ".readFileSync(process.argv[1]))).then(r=>console.log(r.issues.numErrors,"
              "r.issues.numWarnings))")
    for path in (head_take, vrm_take, default_avatar_path()):
        result = subprocess.run(["node", "-e", script, str(path)], capture_output=True, text=True,
                                cwd=os.environ["LIVEFACE_GLTF_VALIDATOR"], timeout=60, check=True)
        assert result.stdout.split() == ["0", "0"], (path.name, result.stdout)
