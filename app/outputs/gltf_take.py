"""A face track as a glTF 2.0 animation (.glb) of an avatar, for Blender and other DCC tools.

The file holds the avatar (as `app.avatar.gltf_write` writes it) and one animation at the
model's 50 fps: each mesh's morph target weights (path "weights": the avatar's channels,
ARKit targets or a VRM's expressions, as the renderer would blend them), and, for a head,
the head's rotation about its neck pivot and each eye's rotation about its centre (path
"rotation"). A bust whose neck blends into a still body (the default head's `_HEAD_WEIGHT`)
is posed rigidly here: parts mostly on the head turn with it, the others (its top) stay.
A full-body VRM keeps its body still, which a rigid node cannot, so its take carries the
morph weights only.

Node layout for a head: a `head` node at the neck pivot; each part hangs under it moved
back by the pivot, and each eye under an `eye_*` node at the eye's centre, so rotating
`head` and `eye_*` poses the parts exactly as the renderer does.
"""

from pathlib import Path

import numpy as np
import pygltflib as gl

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.gltf_write import avatar_document, save_glb
from app.avatar.model import Avatar, PartRole
from app.avatar.rig import GAZE_SLICE, HEAD_SLICE, clamp_rig
from app.errors import LivefaceError
from app.inference import FaceTrack

ANIMATION_NAME = "liveface take"


def write_gltf_take(track: FaceTrack, avatar: Avatar, path: Path, source: str = "") -> Path:
    """Write `avatar` animated by `track` to `path` (.glb)."""
    if track.frames == 0:
        raise LivefaceError("the face track has no frames; give a longer audio file.")
    doc, packer = avatar_document(avatar)
    part_nodes = list(range(len(doc.nodes)))
    rigs = np.stack([clamp_rig(r) for r in track.rig])
    times = packer.accessor(np.arange(track.frames, dtype=np.float32) / FRAME_RATE_HZ, gl.SCALAR,
                            target=None, bounds=True)
    animation = gl.Animation(name=ANIMATION_NAME, extras={"fps": FRAME_RATE_HZ, "source": source})
    weights = np.stack([avatar.channel_weights(r) for r in rigs]).astype(np.float32)
    for node_index in part_nodes:
        mesh = doc.meshes[doc.nodes[node_index].mesh]
        if mesh.weights:
            _add_channel(animation, packer, times, weights.ravel(), gl.SCALAR, node_index, "weights")
    if _follows_head(avatar):
        turning = [n for n, p in zip(part_nodes, avatar.parts, strict=True) if _mostly_on_head(p)]
        head, eyes = _pose_nodes(doc, avatar, turning, [n for n in part_nodes if n not in turning])
        pitch, yaw, roll = rigs[:, HEAD_SLICE].T
        head_turn = _quat_mul(_quat_mul(_axis_quat(1, yaw), _axis_quat(0, pitch)), _axis_quat(2, -roll))
        _add_channel(animation, packer, times, head_turn, gl.VEC4, head, "rotation")
        gaze_yaw, gaze_pitch = (rigs[:, GAZE_SLICE] * np.asarray(avatar.gaze_gain)).T
        gaze = _quat_mul(_axis_quat(1, gaze_yaw), _axis_quat(0, -gaze_pitch))
        for eye in eyes:
            _add_channel(animation, packer, times, gaze, gl.VEC4, eye, "rotation")
    doc.animations.append(animation)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_glb(doc, packer, path)
    except OSError as err:
        raise LivefaceError(f"cannot write {path}: {err.strerror}.") from None
    return path


def _follows_head(avatar: Avatar) -> bool:
    """A head (not a full-body VRM) whose parts a rigid head node can pose."""
    return avatar.vrm is None or all(_mostly_on_head(p) and (p.head_weights is None or bool(
        np.all(p.head_weights > 0.999))) for p in avatar.parts)


def _mostly_on_head(part) -> bool:
    return part.head_weights is None or float(np.mean(part.head_weights)) > 0.5


def _add_channel(animation: gl.Animation, packer, times: int, values: np.ndarray, kind: str,
                 node: int, path: str) -> None:
    output = packer.accessor(np.ascontiguousarray(values, np.float32), kind, target=None)
    animation.samplers.append(gl.AnimationSampler(input=times, output=output, interpolation="LINEAR"))
    animation.channels.append(gl.AnimationChannel(
        sampler=len(animation.samplers) - 1, target=gl.AnimationChannelTarget(node=node, path=path)))


def _pose_nodes(doc: gl.GLTF2, avatar: Avatar, part_nodes: list[int],
                still_nodes: list[int]) -> tuple[int, list[int]]:
    """Hang the parts under a `head` node at the neck pivot (eyes under their own pivot
    nodes), the still ones beside it; returns the head node and the eye pivot nodes."""
    pivot = np.asarray(avatar.neck_pivot, np.float64)
    head = gl.Node(name="head", translation=_floats(pivot), children=[])
    eyes = []
    for node_index in part_nodes:
        node = doc.nodes[node_index]
        role = node.extras.get("liveface_role") if isinstance(node.extras, dict) else None
        center = avatar.eye_centers.get(PartRole(role)) if role in ("eye_left", "eye_right") else None
        if center is None:
            node.translation = _floats(-pivot)
            head.children.append(node_index)
            continue
        center = np.asarray(center, np.float64)
        node.translation = _floats(-center)
        doc.nodes.append(gl.Node(name=f"{role}_pivot", translation=_floats(center - pivot),
                                 children=[node_index]))
        eyes.append(len(doc.nodes) - 1)
        head.children.append(eyes[-1])
    doc.nodes.append(head)
    doc.scenes[0].nodes = [len(doc.nodes) - 1, *still_nodes]
    return len(doc.nodes) - 1, eyes


def _floats(vector) -> list[float]:
    return [float(v) for v in vector]


def _axis_quat(axis: int, angle: np.ndarray) -> np.ndarray:
    """(N, 4) glTF quaternions (x, y, z, w) turning `angle` radians about axis 0, 1 or 2."""
    quat = np.zeros((len(angle), 4))
    quat[:, axis] = np.sin(np.asarray(angle, np.float64) / 2.0)
    quat[:, 3] = np.cos(np.asarray(angle, np.float64) / 2.0)
    return quat


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (rotate by b, then by a), row by row."""
    ax, ay, az, aw = a.T
    bx, by, bz, bw = b.T
    return np.stack([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ], axis=1)
