"""VRM 0.x and VRM 1.0 avatars: glTF files with the `VRM` or `VRMC_vrm` extension.

What is read: the meta (title, authors, licence), the humanoid head, neck and eye bones,
the expressions (VRM 0.x blend shape groups) with their morph target binds, the look-at
type and ranges, and the materials (MToon drawn as its base colour with a toon step to its
shade colour). Skinned meshes are placed in their bind pose on the CPU; vertices keep how
much of them hangs on the head bone, so the head turns and the body stays.

`app.avatar.vrm_declared` reads the extension; this module builds the avatar. Each
expression that binds morph targets becomes one channel of the avatar (its deltas the
binds' weighted sum); `app.avatar.vrm_mapping` drives the channels from the rig. VRM 0.x
avatars face -Z and are turned to face +Z like everything else here. Loading goes through
`app.avatar.gltf_data`, so a VRM obeys the same safety rules as any glTF file.
"""

from dataclasses import dataclass, replace

import numpy as np
import pygltflib as gl

from app.avatar import geometry
from app.avatar.gltf import _attr, _indices, _material, _node_matrix, _optional, arkit_name
from app.avatar.gltf_data import MAX_AVATAR_VERTICES, GltfData
from app.avatar.model import Avatar, Material, MeshPart, PartRole
from app.avatar.rig import ARKIT_NAMES
from app.avatar.vrm_declared import Expression, VrmDeclared, read_declared
from app.avatar.vrm_mapping import VrmDriver, load_mapping
from app.errors import LivefaceError

MAX_CHANNELS = 256  # expressions with morph binds; a VRoid perfect-sync avatar has about 70
# Morph deltas held for all channels of all vertices: as many as 52 ARKit targets of the
# largest avatar the glTF loader takes (a channel costs 24 bytes a vertex).
MAX_CHANNEL_VERTICES = 52 * MAX_AVATAR_VERTICES
PERFECT_SYNC_MIN = 26  # ARKit-named expressions (or targets) that make a VRM "perfect sync"
_HEAD_BONES = ("head", "neck", "leftEye", "rightEye", "jaw")
_TURN_VRM0 = np.diag([-1.0, 1.0, -1.0, 1.0])  # 180 degrees about +Y


# ---- node transforms and skinning ----

def _world_matrices(data: GltfData, root: np.ndarray) -> dict[int, np.ndarray]:
    """World matrix of every node under the default scene (or under every root node)."""
    doc = data.doc
    parent = [-1] * len(doc.nodes)
    for index, node in enumerate(doc.nodes):
        for child in node.children or []:
            if not 0 <= child < len(doc.nodes):
                raise data.fail(f"node {index} has a child {child} that does not exist")
            parent[child] = index
    roots = [i for i in range(len(doc.nodes)) if parent[i] < 0]
    if doc.scenes:
        scene = doc.scene if doc.scene is not None and 0 <= doc.scene < len(doc.scenes) else 0
        roots = list(doc.scenes[scene].nodes or [])
    worlds, stack = {}, [(i, root) for i in roots]
    while stack:
        index, above = stack.pop()
        if not 0 <= index < len(doc.nodes):
            raise data.fail(f"node {index} does not exist")
        if index in worlds:
            raise data.fail(f"node {index} appears twice in the node tree (a cycle or a shared child)")
        worlds[index] = above @ _node_matrix(doc.nodes[index])
        stack.extend((c, worlds[index]) for c in doc.nodes[index].children or [])
    return worlds


def _subtree(nodes: list[gl.Node], top: int | None) -> np.ndarray:
    """True for node `top` and every node below it (each node visited once, so a file
    with a cycle or a huge tree costs one pass)."""
    inside = np.zeros(len(nodes), bool)
    stack = [top] if top is not None and 0 <= top < len(nodes) else []
    while stack:
        index = stack.pop()
        if not inside[index]:
            inside[index] = True
            stack.extend(c for c in nodes[index].children or [] if 0 <= c < len(nodes))
    return inside


def _vertex_matrices(data: GltfData, node: gl.Node, prim: gl.Primitive, count: int,
                     worlds: dict[int, np.ndarray], groups: dict[str, np.ndarray], node_index: int):
    """Per-vertex bind-pose matrices (V, 4, 4) and, per group of nodes (the head's subtree,
    each eye's), each vertex's skinning weight on it (V,): linear blend skinning at rest for
    skinned primitives, the node's own world matrix otherwise."""
    joints_acc, weights_acc = (_attr(prim.attributes, k) for k in ("JOINTS_0", "WEIGHTS_0"))
    if node.skin is None or joints_acc is None or weights_acc is None:
        if node_index not in worlds:
            raise data.fail(f"mesh node {node_index} is not in the scene")
        matrix = np.broadcast_to(worlds[node_index], (count, 4, 4))
        return matrix, {k: np.full(count, float(m[node_index]), np.float32) for k, m in groups.items()}
    if not 0 <= node.skin < len(data.doc.skins):
        raise data.fail(f"node '{node.name}' refers to missing skin {node.skin}")
    skin = data.doc.skins[node.skin]
    joint_nodes = [int(j) for j in skin.joints or []]
    if not joint_nodes or any(j not in worlds for j in joint_nodes):
        raise data.fail(f"skin {node.skin} names joints that are not in the scene")
    if skin.inverseBindMatrices is None:
        inverse_bind = np.tile(np.eye(4), (len(joint_nodes), 1, 1))
    else:
        inverse_bind = data.accessor(skin.inverseBindMatrices)
        if inverse_bind.shape != (len(joint_nodes), 16):
            raise data.fail(f"skin {node.skin}'s inverseBindMatrices do not match its joints")
        inverse_bind = inverse_bind.reshape(-1, 4, 4).transpose(0, 2, 1)
    joints = _optional(data, prim.attributes, "JOINTS_0", count, 4).astype(np.int64)
    weights = _optional(data, prim.attributes, "WEIGHTS_0", count, 4)
    if joints.size and (joints.min() < 0 or joints.max() >= len(joint_nodes)):
        raise data.fail(f"JOINTS_0 of mesh '{node.name}' reaches past its skin's {len(joint_nodes)} joints")
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    joint_matrices = np.stack([worlds[j] for j in joint_nodes]) @ inverse_bind
    matrices = np.einsum("vk,vkij->vij", weights, joint_matrices[joints])
    shares = {k: (weights * m[np.asarray(joint_nodes)][joints]).sum(axis=1).astype(np.float32)
              for k, m in groups.items()}
    return matrices, shares


def _placed(matrices: np.ndarray, positions, normals, morph_pos, morph_nrm) -> dict:
    """Vertex data moved by per-vertex matrices (rest poses are rigid: normals and deltas
    take the linear part and normals are renormalised)."""
    linear = matrices[:, :3, :3]
    moved = np.einsum("vij,vj->vi", linear, normals)
    scale = np.linalg.norm(moved, axis=1, keepdims=True).clip(1e-12)
    return {
        "positions": (np.einsum("vij,vj->vi", linear, positions) + matrices[:, :3, 3]).astype(np.float32),
        "normals": (moved / scale).astype(np.float32),
        "morph_positions": np.einsum("vij,cvj->cvi", linear, morph_pos).astype(np.float32),
        "morph_normals": (np.einsum("vij,cvj->cvi", linear, morph_nrm) / scale[None]).astype(np.float32),
    }


# ---- channels: what each row of morph deltas means ----

@dataclass(frozen=True)
class Channels:
    """The avatar's morph channels and, per (mesh, target), its weight in each channel."""

    names: tuple[str, ...]
    perfect_sync: dict[str, str]  # channel -> ARKit name, for perfect-sync avatars
    binds: dict[int, np.ndarray]  # mesh index -> (channels, targets) weights
    from_targets: bool = False  # channels are ARKit-named morph targets, not expressions


def _channels(data: GltfData, declared: VrmDeclared) -> Channels:
    """Expressions that bind morph targets, in file order; a perfect-sync VRM's ARKit ones
    drive the rig's 52 weights, and a VRM whose expressions lack them but whose morph
    targets carry ARKit names is driven through those targets."""
    with_binds = [e for e in declared.expressions if e.binds]
    arkit = {e.name: arkit_name(e.name) for e in with_binds if arkit_name(e.name)}
    if len(set(arkit.values())) >= PERFECT_SYNC_MIN:
        return _expression_channels(data, with_binds, arkit)
    by_targets = _arkit_targets(data)
    if len({name for name, _, _ in by_targets}) >= PERFECT_SYNC_MIN:
        names = tuple(n for n in ARKIT_NAMES if any(t[0] == n for t in by_targets))
        binds = {}
        for name, mesh, target in by_targets:
            rows = binds.setdefault(mesh, np.zeros((len(names), _target_count(data, mesh))))
            rows[names.index(name), target] = 1.0
        return Channels(names, {n: n for n in names}, binds, from_targets=True)
    return _expression_channels(data, with_binds, {})


def _expression_channels(data: GltfData, expressions: list[Expression], arkit: dict) -> Channels:
    names = tuple(dict.fromkeys(e.name for e in expressions))
    if len(names) > MAX_CHANNELS:
        raise data.too_large(f"it has {len(names)} expressions with morph binds, more than "
                             f"the {MAX_CHANNELS} a VRM avatar may have")
    binds = {}
    for expression in expressions:
        for mesh, target, weight in expression.binds:
            if not 0 <= mesh < len(data.doc.meshes):
                raise data.fail(f"expression '{expression.name}' binds mesh {mesh}, which does not exist")
            count = _target_count(data, mesh)
            if not 0 <= target < count:
                raise data.fail(f"expression '{expression.name}' binds morph target {target} of "
                                f"mesh {mesh}, which has {count}")
            rows = binds.setdefault(mesh, np.zeros((len(names), count)))
            rows[names.index(expression.name), target] += weight
    return Channels(names, arkit, binds)


def _target_count(data: GltfData, mesh: int) -> int:
    prims = data.doc.meshes[mesh].primitives or []
    return max((len(p.targets or []) for p in prims), default=0)


def _arkit_targets(data: GltfData) -> list[tuple[str, int, int]]:
    """(ARKit name, mesh, target index) for morph targets named like ARKit shapes."""
    found = []
    for mesh_index, mesh in enumerate(data.doc.meshes):
        prims = mesh.primitives or []
        extras = [x for x in [mesh.extras] + [p.extras for p in prims] if isinstance(x, dict)]
        names = next((x["targetNames"] for x in extras if isinstance(x.get("targetNames"), list)), [])
        for target, name in enumerate(names):
            rig_name = arkit_name(str(name))
            if rig_name and not any(f[0] == rig_name for f in found):
                found.append((rig_name, mesh_index, target))
    return found


# ---- the avatar ----

def build_vrm_avatar(path, data: GltfData) -> Avatar:
    """The avatar a VRM file describes, driven through its expressions."""
    declared = read_declared(data)
    channels = _channels(data, declared)
    root = _TURN_VRM0 if declared.version == "0.x" else np.eye(4)
    worlds = _world_matrices(data, root)
    groups = {"head": _subtree(data.doc.nodes, declared.bones.get("head"))}
    eye_bones = _eye_bones(declared)
    for role, bone in eye_bones.items():
        groups[role.value] = _subtree(data.doc.nodes, bone)
    parts, left = [], MAX_AVATAR_VERTICES
    for node_index in sorted(worlds):
        node = data.doc.nodes[node_index]
        if node.mesh is None:
            continue
        if not 0 <= node.mesh < len(data.doc.meshes):
            raise data.fail(f"node '{node.name}' refers to missing mesh {node.mesh}")
        mesh = data.doc.meshes[node.mesh]
        for prim_index, prim in enumerate(mesh.primitives or []):
            read = _read_part(data, node_index, prim_index, worlds, groups, channels, declared, left)
            parts += read
            left -= sum(p.vertex_count for p in read)
    if not parts:
        raise LivefaceError(f"avatar {path} has no triangle meshes to draw.")
    parts = _with_skin_role(parts, channels)
    head = _bone_position(worlds, declared.bones.get("head"))
    mapping = load_mapping()
    # A perfect-sync face looks with its own eyeLook* shapes; others with look-at expressions.
    use_look_at = declared.look_at_type == "expression" and not channels.perfect_sync
    look_at = declared.look_at if use_look_at else None
    driver = VrmDriver(channels.names, mapping, look_at, channels.perfect_sync,
                       binary=tuple(e.name for e in declared.expressions if e.is_binary),
                       overrides=tuple((e.name, g, m) for e in declared.expressions for g, m in e.overrides))
    eye_centers = {role: _bone_position(worlds, bone) for role, bone in eye_bones.items()
                   if any(p.role is role for p in parts)}
    avatar = Avatar(
        name=path.stem,
        parts=tuple(parts),
        neck_pivot=head if head is not None else _fallback_pivot(parts),
        eye_centers=eye_centers,
        gaze_gain=declared.eye_gain if eye_centers else (1.0, 1.0),
        target_names=tuple(a for a in ARKIT_NAMES if a in driver.controls_read()),
        channels=channels.names,
        drive=driver,
    )
    return _framed(avatar, head, declared, channels, driver)


def _eye_bones(declared: VrmDeclared) -> dict[PartRole, int]:
    """The eye bones that gaze turns: only where the look-at type is bone."""
    if declared.look_at_type != "bone":
        return {}
    named = {PartRole.EYE_LEFT: "leftEye", PartRole.EYE_RIGHT: "rightEye"}
    return {role: declared.bones[name] for role, name in named.items() if name in declared.bones}


def _read_part(data: GltfData, node_index: int, prim_index: int, worlds, groups: dict, channels: Channels,
               declared: VrmDeclared, vertices_left: int) -> list[MeshPart]:
    """One primitive as parts: itself, less the triangles hanging on an eye bone, which
    become that eye's part."""
    node = data.doc.nodes[node_index]
    mesh = data.doc.meshes[node.mesh]
    prim = mesh.primitives[prim_index]
    if prim.mode not in (None, gl.TRIANGLES) or _attr(prim.attributes, "POSITION") is None:
        return []
    positions = _optional(data, prim.attributes, "POSITION", None, 3)
    count = len(positions)
    if count > vertices_left:
        raise data.too_large(f"its meshes have more than the {MAX_AVATAR_VERTICES} vertices a VR "
                             "avatar may have; decimate it")
    indices = _indices(data, prim, count)
    normals = _optional(data, prim.attributes, "NORMAL", count, 3)
    if normals is None:
        normals = geometry.smooth_normals(positions, indices).astype(np.float64)
    uvs = _optional(data, prim.attributes, "TEXCOORD_0", count, 2)
    if uvs is not None:
        uvs = _texture_transformed(data, prim.material, uvs)
    used = MAX_AVATAR_VERTICES - vertices_left + count
    if len(channels.names) * used > MAX_CHANNEL_VERTICES:
        raise data.too_large(f"{len(channels.names)} expressions with morph binds over {used} "
                             f"vertices need more than {MAX_CHANNEL_VERTICES} morph deltas")
    morph_pos, morph_nrm = _channel_deltas(data, node.mesh, prim, count, channels)
    matrices, shares = _vertex_matrices(data, node, prim, count, worlds, groups, node_index)
    with np.errstate(over="ignore", invalid="ignore"):
        placed = _placed(matrices, positions, normals, morph_pos, morph_nrm)
    name = node.name or mesh.name or f"mesh{node.mesh}"
    if not all(np.isfinite(a).all() for a in placed.values()):
        raise data.fail(f"mesh '{name}' has positions or morph targets that overflow once placed")
    part = MeshPart(
        name=name if len(mesh.primitives) == 1 else f"{name}_{prim_index}",
        role=PartRole.OTHER,
        material=_vrm_material(data, prim.material, declared),
        uvs=(np.zeros((count, 2)) if uvs is None else uvs).astype(np.float32),
        indices=indices,
        regions=np.full(count, -1.0, np.float32),
        head_weights=np.maximum(shares["head"], 0.0),
        **placed,
    )
    return _split_eyes(part, shares)


def _split_eyes(part: MeshPart, shares: dict[str, np.ndarray]) -> list[MeshPart]:
    """Triangles whose three vertices hang mostly on one eye bone become a part of that
    eye's role (the renderer turns eye parts about the eye's centre); the rest stays."""
    rest = np.ones(part.triangle_count, bool)
    eyes = []
    for role in (PartRole.EYE_LEFT, PartRole.EYE_RIGHT):
        share = shares.get(role.value)
        if share is None:
            continue
        on_eye = (share[part.indices] > 0.5).all(axis=1) & rest
        if on_eye.any():
            eyes.append(_subpart(part, on_eye, role, f"{part.name}_{role.value}"))
            rest &= ~on_eye
    if not eyes:
        return [part]
    return ([_subpart(part, rest, part.role, part.name)] if rest.any() else []) + eyes


def _subpart(part: MeshPart, triangles: np.ndarray, role: PartRole, name: str) -> MeshPart:
    """The part cut down to some of its triangles and the vertices they use."""
    used = np.unique(part.indices[triangles])
    remap = np.full(part.vertex_count, -1, np.int64)
    remap[used] = np.arange(len(used))
    return replace(
        part, name=name, role=role, positions=part.positions[used], normals=part.normals[used],
        uvs=part.uvs[used], indices=remap[part.indices[triangles]].astype(np.uint32),
        morph_positions=part.morph_positions[:, used], morph_normals=part.morph_normals[:, used],
        regions=part.regions[used],
        tangents=None if part.tangents is None else part.tangents[used],
        head_weights=None if part.head_weights is None else part.head_weights[used],
    )


def _texture_transformed(data: GltfData, material: int | None, uvs: np.ndarray) -> np.ndarray:
    """UVs moved by the base colour texture's KHR_texture_transform (offset, rotation,
    scale; uv' = T R S uv as the extension defines), which VRM exporters write."""
    if material is None or not 0 <= material < len(data.doc.materials):
        return uvs
    pbr = data.doc.materials[material].pbrMetallicRoughness
    info = pbr.baseColorTexture if pbr is not None else None
    extensions = info.extensions if info is not None and isinstance(info.extensions, dict) else {}
    transform = extensions.get("KHR_texture_transform")
    if not isinstance(transform, dict):
        return uvs
    offset = np.asarray(transform.get("offset", (0.0, 0.0)), np.float64)[:2]
    scale = np.asarray(transform.get("scale", (1.0, 1.0)), np.float64)[:2]
    angle = float(transform.get("rotation", 0.0))
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, s], [-s, c]])
    return (uvs * scale) @ rotation.T + offset


def _channel_deltas(data: GltfData, mesh: int, prim: gl.Primitive, count: int, channels: Channels):
    """(channels, V, 3) position and normal deltas: each channel's binds summed."""
    positions = np.zeros((len(channels.names), count, 3))
    normals = np.zeros_like(positions)
    rows = channels.binds.get(mesh)
    if rows is None:
        return positions, normals
    for target_index, target in enumerate(prim.targets or []):
        column = rows[:, target_index] if target_index < rows.shape[1] else None
        if column is None or not column.any():
            continue
        for attribute, out in (("POSITION", positions), ("NORMAL", normals)):
            values = _optional(data, target, attribute, count, 3)
            if values is not None:
                out += column[:, None, None] * values[None]
    return positions, normals


def _vrm_material(data: GltfData, index: int | None, declared: VrmDeclared) -> Material:
    """The glTF material with the VRM's MToon hints: every VRM material is drawn toon-style
    (VRM avatars are authored for unlit or MToon shading)."""
    base = _material(data, index)
    hints = declared.materials.get(index, {}) if index is not None else {}
    mat = data.doc.materials[index] if index is not None else None
    alpha_mode = str(mat.alphaMode or "OPAQUE") if mat is not None else "OPAQUE"
    cutoff = float(mat.alphaCutoff) if mat is not None and mat.alphaCutoff is not None else 0.5
    if declared.version == "0.x" and "alpha_mode" in hints:
        alpha_mode, cutoff = hints["alpha_mode"], hints["cutoff"]
    shade = hints.get("shade", tuple(0.75 * c for c in base.base_color[:3]))
    width, screen, colour, mix = hints.get("outline", (0.0, False, (0.0, 0.0, 0.0), 0.0))
    return replace(base, alpha_mode=alpha_mode if alpha_mode in ("OPAQUE", "MASK", "BLEND") else "OPAQUE",
                   alpha_cutoff=cutoff, toon=True, shade_color=tuple(float(c) for c in shade),
                   double_sided=base.double_sided or bool(hints.get("double_sided", False)),
                   outline_width=float(width), outline_screen=bool(screen),
                   outline_color=tuple(float(c) for c in colour), outline_lighting_mix=float(mix))


def _with_skin_role(parts: list[MeshPart], channels: Channels) -> list[MeshPart]:
    """The part whose morphs move most is the face ("skin"); others keep OTHER."""
    if not channels.names:
        return parts
    moving = [float(np.abs(p.morph_positions).sum()) for p in parts]
    best = int(np.argmax(moving))
    if moving[best] <= 0:
        return parts
    return [replace(p, role=PartRole.SKIN) if i == best else p for i, p in enumerate(parts)]


def _bone_position(worlds: dict[int, np.ndarray], node: int | None) -> np.ndarray | None:
    if node is None or node not in worlds:
        return None
    return worlds[node][:3, 3].astype(np.float32)


def _fallback_pivot(parts: list[MeshPart]) -> np.ndarray:
    points = np.concatenate([p.positions for p in parts])
    low, high = points.min(axis=0), points.max(axis=0)
    return np.array([(low[0] + high[0]) / 2, low[1] + 0.85 * (high[1] - low[1]), (low[2] + high[2]) / 2],
                    np.float32)


def _framed(avatar: Avatar, head: np.ndarray | None, declared: VrmDeclared, channels: Channels,
            driver: VrmDriver) -> Avatar:
    """The avatar with the bounds a camera frames (its head) and its VRM summary."""
    weights = np.concatenate([p.head_weights for p in avatar.parts])
    points = np.concatenate([p.positions for p in avatar.parts])
    on_head = points[weights > 0.5]
    head_bounds = None
    if head is not None and len(on_head) >= 4:
        low, high = np.percentile(on_head, 1, axis=0), np.percentile(on_head, 99, axis=0)
        # Long hair hangs from the head bone: frame from the neck (a quarter of the head's
        # height below the head bone) to the crown.
        low[1] = max(low[1], head[1] - 0.25 * (high[1] - head[1]))
        head_bounds = _around_the_face(avatar, low, high)
    summary = _summary(declared, channels, driver, bool(avatar.eye_centers))
    return replace(avatar, head_bounds=head_bounds, vrm=summary)


FACE_FRAME_HEIGHTS = 3.0  # a frame at most this many times the face's features' height


def _around_the_face(avatar: Avatar, low: np.ndarray, high: np.ndarray):
    """Head bounds cut down, where the head is much taller than its face (a mascot whose
    whole body hangs on the head bone), to a frame centred on the face's features: the
    vertices its expressions move."""
    moving = [p.positions[np.abs(p.morph_positions).sum(axis=(0, 2)) > 0] for p in avatar.parts]
    features = np.concatenate(moving) if moving else np.zeros((0, 3))
    if len(features) >= 4:
        face_low, face_high = features.min(axis=0), features.max(axis=0)
        most = FACE_FRAME_HEIGHTS * max(float(face_high[1] - face_low[1]), 0.05)
        if high[1] - low[1] > most:
            middle = (face_low[1] + face_high[1]) / 2
            low[1], high[1] = middle - most / 2, middle + most / 2
    return low.astype(np.float32), high.astype(np.float32)


def _mode(channels: Channels) -> str:
    if not channels.perfect_sync:
        return "mapping (assets/avatars/vrm-mapping.toml)"
    shapes = "morph targets" if channels.from_targets else "expressions"
    return f"perfect sync (ARKit-named {shapes} driven directly by the rig)"


def _summary(declared: VrmDeclared, channels: Channels, driver: VrmDriver, eye_parts: bool) -> dict:
    meta = declared.meta
    authors = meta.get("authors") or ([meta["author"]] if meta.get("author") else [])
    licence = meta.get("licenseUrl") or meta.get("licenseName") or ""
    if licence == "Other" and meta.get("otherLicenseUrl"):
        licence = f"Other: {meta['otherLicenseUrl']}"
    driven = driver.driven()
    without_binds = [e.name for e in declared.expressions if not e.binds]
    if declared.look_at_type == "expression":
        gaze = "look-at expressions"
    elif eye_parts:
        gaze = (f"eye bones (eye parts turn about the bones, {declared.eye_gain[0]:.2f} x gaze "
                f"yaw, {declared.eye_gain[1]:.2f} x gaze pitch)")
    else:
        gaze = "eye bones, but no mesh hangs on them: the eyes stay still"
    return {
        "version": declared.version,
        "title": str(meta.get("name") or meta.get("title") or ""),
        "authors": [str(a) for a in authors],
        "license": str(licence),
        "expressions": [e.name for e in declared.expressions],
        "expressions_without_morph_binds": without_binds,
        "mode": _mode(channels),
        "driven": driven,
        "not_driven": [n for n in channels.names if n not in driven],
        "look_at": declared.look_at_type,
        "gaze": gaze,
        "bones": {b: declared.bones[b] for b in _HEAD_BONES if b in declared.bones},
    }
