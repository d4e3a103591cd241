"""Loads any glTF 2.0 avatar whose morph targets carry ARKit names into an `Avatar`.

Ready Player Me, VRoid and MetaHuman exports differ in how they name parts and targets
and where they put transforms, so the loader bakes node transforms into the vertices,
matches target names leniently, and infers part roles from names when the file carries no
liveface metadata. Everything wrong with the file becomes a `LivefaceError`.
"""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pygltflib as gl

from app.avatar import geometry
from app.avatar.gltf_data import (
    INDEX_COMPONENTS,
    MAX_AVATAR_VERTICES,
    GltfData,
    invalid,
)
from app.avatar.model import Avatar, Material, MeshPart, PartRole, empty_morphs
from app.avatar.rig import ARKIT_NAMES, NUM_BLENDSHAPES
from app.avatar.vrm_declared import vrm_version
from app.errors import LivefaceError

_ARKIT_BY_KEY = {re.sub(r"[^a-z0-9]", "", n.lower()): n for n in ARKIT_NAMES}
_NAME_PREFIXES = ("arkit", "blendshape", "bs", "shape")
_EYE_EXCLUDE = {"lash", "lashes", "eyelash", "eyelashes", "brow", "brows", "lid", "lids",
                "occlusion", "shell", "tear", "wet", "socket", "ao"}


def arkit_name(name: str) -> str | None:
    """The ARKit name a morph target stands for, or None.

    Exact names win; otherwise the part after the last '.', ':' or '|' ("blendShape1.jawOpen"),
    compared without case, punctuation and one common prefix ("ARKit_jawOpen", "BS_jawOpen").
    """
    if name in ARKIT_NAMES:
        return name
    tail = re.split(r"[.:|]", name)[-1]
    key = re.sub(r"[^a-z0-9]", "", tail.lower())
    if key in _ARKIT_BY_KEY:
        return _ARKIT_BY_KEY[key]
    for prefix in _NAME_PREFIXES:
        if key.startswith(prefix) and key[len(prefix):] in _ARKIT_BY_KEY:
            return _ARKIT_BY_KEY[key[len(prefix):]]
    return None


def load_avatar(path: Path, require_all_targets: bool = True) -> Avatar:
    """Read a .glb, .gltf or .vrm avatar. With `require_all_targets`, every one of the 52
    ARKit targets must exist somewhere in a glTF file; otherwise the error lists the missing
    ones. VRM files (VRM 0.x or 1.0 extension) are driven through their expressions."""
    path = Path(path)
    try:
        data = GltfData(path)
        if vrm_version(data.doc) is not None:
            from app.avatar.vrm import build_vrm_avatar

            return build_vrm_avatar(path, data)
        return _build_avatar(path, data, require_all_targets)
    except (TypeError, ValueError, AttributeError, IndexError, KeyError, OverflowError) as err:
        # Fields of the wrong JSON type (a string where a count belongs, ...) surface here.
        raise invalid(path, f"a field has an unexpected type or value ({type(err).__name__}: {err})") from None


def _build_avatar(path: Path, data: GltfData, require_all_targets: bool) -> Avatar:
    parts, vertices = [], 0
    for node, world in _mesh_nodes(data):
        for prim_index, doc_prims in _primitives(data, node):
            part = _read_part(data, node, world, prim_index, len(doc_prims), MAX_AVATAR_VERTICES - vertices)
            if part is not None:
                parts.append(part)
                vertices += part[0].vertex_count
    if not parts:
        raise LivefaceError(f"avatar {path} has no triangle meshes to draw.")
    target_names = tuple(n for k, n in enumerate(ARKIT_NAMES) if any(p[1][k] for p in parts))
    _check_targets(path, target_names, require_all_targets)
    meshes = _assign_roles(parts)
    return Avatar(
        name=path.stem,
        parts=tuple(meshes),
        neck_pivot=_neck_pivot(data, meshes),
        eye_centers=_eye_centers(meshes, [p[2] for p in parts]),
        target_names=target_names,
        head_bounds=_head_bounds(data),
    )


def _check_targets(path: Path, names: tuple[str, ...], require_all: bool) -> None:
    if not names:
        raise LivefaceError(
            f"avatar {path} has no morph targets with ARKit names (jawOpen, eyeBlinkLeft, ...); "
            "export it with ARKit blendshapes (Ready Player Me: morphTargets=ARKit)."
        )
    missing = [n for n in ARKIT_NAMES if n not in names]
    if missing and require_all:
        raise LivefaceError(
            f"avatar {path} lacks {len(missing)} of the {NUM_BLENDSHAPES} ARKit morph targets: "
            f"{', '.join(missing)}; add them or load it with require_all_targets=False."
        )


def _node_matrix(node: gl.Node) -> np.ndarray:
    """A node's local transform as a 4x4 matrix (glTF stores matrices column-major)."""
    if node.matrix and len(node.matrix) == 16:
        return np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T
    t = np.asarray(node.translation or (0, 0, 0), dtype=np.float64)
    x, y, z, w = np.asarray(node.rotation or (0, 0, 0, 1), dtype=np.float64)
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.asarray(node.scale or (1, 1, 1), dtype=np.float64)[None, :]
    matrix[:3, 3] = t
    return matrix


def _mesh_nodes(data: GltfData):
    """(node, world matrix) for every node with a mesh under the default scene's roots."""
    doc = data.doc
    if doc.scenes:
        scene = doc.scene if doc.scene is not None and 0 <= doc.scene < len(doc.scenes) else 0
        roots = doc.scenes[scene].nodes or []
    else:
        children = {c for n in doc.nodes for c in (n.children or [])}
        roots = [i for i in range(len(doc.nodes)) if i not in children]
    stack, seen = [(i, np.eye(4)) for i in reversed(roots)], set()
    while stack:
        index, parent = stack.pop()
        if not 0 <= index < len(doc.nodes):
            raise data.fail(f"node {index} does not exist")
        if index in seen:  # glTF node trees are trees; a shared child could repeat exponentially
            raise data.fail(f"node {index} appears twice in the node tree (a cycle or a shared child)")
        seen.add(index)
        node = doc.nodes[index]
        world = parent @ _node_matrix(node)
        if node.mesh is not None:
            yield node, world
        stack.extend((c, world) for c in reversed(node.children or []))


def _primitives(data: GltfData, node: gl.Node):
    if not 0 <= node.mesh < len(data.doc.meshes):
        raise data.fail(f"node '{node.name}' refers to missing mesh {node.mesh}")
    prims = data.doc.meshes[node.mesh].primitives or []
    for index in range(len(prims)):
        yield index, prims


def _attr(attributes, name: str):
    """An attribute's accessor index from pygltflib's Attributes object or a plain dict."""
    if isinstance(attributes, dict):
        return attributes.get(name)
    return getattr(attributes, name, None)


def _read_part(data: GltfData, node: gl.Node, world: np.ndarray, prim_index: int, prim_count: int,
               vertices_left: int):
    """One TRIANGLES primitive as (MeshPart, has-target flags per ARKit name, extras) or None."""
    mesh = data.doc.meshes[node.mesh]
    prim = mesh.primitives[prim_index]
    if prim.mode not in (None, gl.TRIANGLES) or _attr(prim.attributes, "POSITION") is None:
        return None  # points, lines and strips are not faces; nothing to draw for a head
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
    regions = _optional(data, prim.attributes, "_REGION", count, 1)
    head_weights = _optional(data, prim.attributes, "_HEAD_WEIGHT", count, 1)
    tangents = _optional(data, prim.attributes, "TANGENT", count, 4)
    morph_pos, morph_nrm, present = _morphs(data, mesh, prim, count)
    name = node.name or mesh.name or f"mesh{node.mesh}"
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are refused below
        placed = _placed(world, positions, normals, tangents, morph_pos, morph_nrm)
    if not all(np.isfinite(a).all() for a in placed.values() if a is not None):
        raise data.fail(f"mesh '{name}' has positions or morph targets that overflow once its "
                        "node transforms are applied")
    part = MeshPart(
        name=name if prim_count == 1 else f"{name}_{prim_index}",
        role=PartRole.OTHER,
        material=_material(data, prim.material),
        uvs=(np.zeros((count, 2)) if uvs is None else uvs).astype(np.float32),
        indices=indices,
        regions=(np.full(count, -1.0) if regions is None else regions[:, 0]).astype(np.float32),
        head_weights=None if head_weights is None else np.clip(head_weights[:, 0], 0.0, 1.0).astype(np.float32),
        **placed,
    )
    extras = dict(node.extras if isinstance(node.extras, dict) else {}, _mesh=mesh.name or "", _world=world)
    return part, present, extras


def _placed(world, positions, normals, tangents, morph_pos, morph_nrm) -> dict:
    """Vertex data moved into avatar space by a node's world matrix. Normals and normal
    deltas go through the inverse transpose and share the rest normal's rescaling."""
    linear = world[:3, :3]
    normal_matrix = np.linalg.inv(linear).T if abs(np.linalg.det(linear)) > 1e-20 else np.eye(3)
    moved_normals = normals @ normal_matrix.T
    scale = np.linalg.norm(moved_normals, axis=1, keepdims=True).clip(1e-12)
    if tangents is not None:
        direction = tangents[:, :3] @ linear.T
        direction /= np.linalg.norm(direction, axis=1, keepdims=True).clip(1e-12)
        tangents = np.concatenate([direction, tangents[:, 3:]], axis=1).astype(np.float32)
    return {
        "positions": (positions @ linear.T + world[:3, 3]).astype(np.float32),
        "normals": (moved_normals / scale).astype(np.float32),
        "morph_positions": (morph_pos @ linear.T).astype(np.float32),
        "morph_normals": ((morph_nrm @ normal_matrix.T) / scale[None]).astype(np.float32),
        "tangents": tangents,
    }


def _optional(data: GltfData, attributes, name: str, count: int | None, width: int):
    """Attribute `name` as (count, width) values, or None when absent (`count` None: any)."""
    index = _attr(attributes, name)
    if index is None:
        return None
    values = data.accessor(index)
    if values.shape[1] != width:
        raise data.fail(f"attribute {name} has {values.shape[1]} components per vertex, not {width}")
    if count is not None and len(values) != count:
        raise data.fail(f"attribute {name} has {len(values)} entries for {count} vertices")
    return values


def _indices(data: GltfData, prim: gl.Primitive, count: int) -> np.ndarray:
    if prim.indices is None:
        flat = np.arange(count - count % 3, dtype=np.int64)
    else:
        acc = data.accessor_def(prim.indices)
        if acc.type != gl.SCALAR or acc.componentType not in INDEX_COMPONENTS:
            raise data.fail("triangle indices must be a SCALAR accessor of unsigned integers")
        flat = data.accessor(prim.indices)[:, 0].astype(np.int64)
        flat = flat[: len(flat) - len(flat) % 3]
    if flat.size and (flat.min() < 0 or flat.max() >= count):
        raise data.fail(f"triangle indices reach past the {count} vertices of their primitive")
    return flat.reshape(-1, 3).astype(np.uint32)


def _target_names(mesh: gl.Mesh, prim: gl.Primitive) -> list:
    for extras in (prim.extras, mesh.extras):
        if isinstance(extras, dict) and isinstance(extras.get("targetNames"), list):
            return extras["targetNames"]
    return []


def _morphs(data: GltfData, mesh: gl.Mesh, prim: gl.Primitive, count: int):
    """Morph deltas in rig order: (positions, normals, which ARKit targets exist)."""
    positions, normals = empty_morphs(count).astype(np.float64), empty_morphs(count).astype(np.float64)
    present = np.zeros(NUM_BLENDSHAPES, dtype=bool)
    names = _target_names(mesh, prim)
    for target, name in zip(prim.targets or [], names, strict=False):
        rig_name = arkit_name(str(name))
        if rig_name is None:
            continue
        k = ARKIT_NAMES.index(rig_name)
        if present[k]:
            continue  # a second target with the same meaning: keep the first
        for attribute, out in (("POSITION", positions), ("NORMAL", normals)):
            values = _optional(data, target, attribute, count, 3)
            if values is not None:
                out[k] = values
        present[k] = True
    return positions, normals, present


def _material(data: GltfData, index: int | None) -> Material:
    if index is None:
        return Material("default")
    if not 0 <= index < len(data.doc.materials):
        raise data.fail(f"material {index} does not exist")
    mat = data.doc.materials[index]
    pbr = mat.pbrMetallicRoughness or gl.PbrMetallicRoughness()
    color = tuple(float(c) for c in (pbr.baseColorFactor or (1.0, 1.0, 1.0, 1.0)))
    return Material(
        name=mat.name or f"material{index}",
        base_color=color,
        roughness=float(1.0 if pbr.roughnessFactor is None else pbr.roughnessFactor),
        base_color_texture=_texture(data, pbr.baseColorTexture),
        normal_texture=_texture(data, mat.normalTexture),
        double_sided=bool(mat.doubleSided),
        alpha_mode=mat.alphaMode if mat.alphaMode in ("MASK", "BLEND") else "OPAQUE",
        alpha_cutoff=float(0.5 if mat.alphaCutoff is None else mat.alphaCutoff),
    )


def _texture(data: GltfData, info) -> np.ndarray | None:
    if info is None or info.index is None:
        return None
    if not 0 <= info.index < len(data.doc.textures):
        raise data.fail(f"texture {info.index} does not exist")
    source = data.doc.textures[info.index].source
    return None if source is None else data.image(source)


def _name_tokens(*names: str) -> list[str]:
    """Lower-case words of names like "EyeLeft", "Wolf3D_Teeth" or "eye_L.001"."""
    words = []
    for name in names:
        spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name or "")
        words += [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    return words


def _role_from_names(part: MeshPart, mesh_name: str) -> PartRole:
    """Guess a part's role from its node, mesh and material names."""
    words = _name_tokens(part.name, mesh_name, part.material.name)
    if {"teeth", "tooth"} & set(words):
        return PartRole.TEETH
    if "tongue" in words:
        return PartRole.TONGUE
    if not {"eye", "eyeball", "eyes"} & set(words) or _EYE_EXCLUDE & set(words):
        return PartRole.OTHER
    if {"left", "l"} & set(words):
        return PartRole.EYE_LEFT
    if {"right", "r"} & set(words):
        return PartRole.EYE_RIGHT
    centre_x = (part.positions[:, 0].min() + part.positions[:, 0].max()) / 2.0
    return PartRole.EYE_LEFT if centre_x > 0 else PartRole.EYE_RIGHT  # +X is the avatar's left


def _assign_roles(parts: list) -> list[MeshPart]:
    """Roles from liveface metadata, else from names; the skin is the part that carries
    the most ARKit targets when nothing is called skin."""
    roles = []
    for part, _, extras in parts:
        try:
            roles.append(PartRole(extras.get("liveface_role")))
        except ValueError:
            roles.append(_role_from_names(part, extras["_mesh"]))
    if PartRole.SKIN not in roles:
        candidates = [i for i, r in enumerate(roles) if r is PartRole.OTHER]
        if candidates:
            best = max(candidates, key=lambda i: (int(parts[i][1].sum()), parts[i][0].vertex_count))
            roles[best] = PartRole.SKIN
    return [_with_role(part, role) for (part, _, _), role in zip(parts, roles, strict=True)]


def _with_role(part: MeshPart, role: PartRole) -> MeshPart:
    return replace(part, role=role)


def _eye_centers(meshes: list[MeshPart], extras: list[dict]) -> dict[PartRole, np.ndarray]:
    """Each eye's rotation centre: the file's own, else the centre of the eye's bounds."""
    centers = {}
    for role in (PartRole.EYE_LEFT, PartRole.EYE_RIGHT):
        chosen = [i for i, m in enumerate(meshes) if m.role is role]
        if not chosen:
            continue
        stated = extras[chosen[0]].get("liveface_eye_center")
        if isinstance(stated, list) and len(stated) == 3:
            world = extras[chosen[0]]["_world"]
            centers[role] = (world[:3, :3] @ np.asarray(stated, float) + world[:3, 3]).astype(np.float32)
        else:
            points = np.concatenate([meshes[i].positions for i in chosen])
            centers[role] = ((points.min(axis=0) + points.max(axis=0)) / 2.0).astype(np.float32)
    return centers


def _liveface_extras(data: GltfData) -> dict:
    """The default scene's `extras.liveface` (what liveface's own writer records)."""
    doc = data.doc
    scene = doc.scenes[doc.scene or 0] if doc.scenes and 0 <= (doc.scene or 0) < len(doc.scenes) else None
    extras = scene.extras if scene is not None and isinstance(scene.extras, dict) else {}
    stated = extras.get("liveface")
    return stated if isinstance(stated, dict) else {}


def _head_bounds(data: GltfData) -> tuple[np.ndarray, np.ndarray] | None:
    """What cameras should frame, when the file says (a bust framed on its head)."""
    stated = _liveface_extras(data).get("head_bounds")
    if not (isinstance(stated, list) and len(stated) == 2
            and all(isinstance(c, list) and len(c) == 3 for c in stated)):
        return None
    low, high = (np.asarray(c, dtype=np.float64) for c in stated)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
        return None
    return low.astype(np.float32), high.astype(np.float32)


def _neck_pivot(data: GltfData, meshes: list[MeshPart]) -> np.ndarray:
    """The scene's stated head pivot, else a point low in the skin's bounds: centred in x
    and z, 15% of the height up from the bottom (the upper neck of a head-and-neck bust)."""
    doc = data.doc
    scene = doc.scenes[doc.scene or 0] if doc.scenes and 0 <= (doc.scene or 0) < len(doc.scenes) else None
    stated = ((scene.extras or {}).get("liveface") or {}).get("neck_pivot") if scene else None
    if isinstance(stated, list) and len(stated) == 3:
        return np.asarray(stated, dtype=np.float32)
    skin = [m for m in meshes if m.role is PartRole.SKIN] or meshes
    points = np.concatenate([m.positions for m in skin])
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2.0
    return np.array([centre[0], low[1] + 0.15 * (high[1] - low[1]), centre[2]], dtype=np.float32)


def avatar_info(avatar: Avatar, path: Path) -> dict:
    """A JSON-ready summary of a loaded avatar, for `liveface avatar info` and bug reports."""
    low, high = avatar.bounds()
    return {
        "name": avatar.name,
        "path": str(path),
        "vertices": avatar.vertex_count,
        "triangles": avatar.triangle_count,
        "parts": [
            {"name": p.name, "role": p.role.value, "vertices": p.vertex_count, "triangles": p.triangle_count}
            for p in avatar.parts
        ],
        "morph_targets": list(avatar.target_names),
        "missing_targets": [n for n in ARKIT_NAMES if n not in avatar.target_names],
        "bounds_m": {"min": _rounded(low), "max": _rounded(high), "size": _rounded(high - low)},
        "neck_pivot": _rounded(avatar.neck_pivot),
        "eye_centers": {role.value: _rounded(c) for role, c in avatar.eye_centers.items()},
        **({"vrm": avatar.vrm} if avatar.vrm else {}),
    }


def _rounded(vector) -> list[float]:
    return [round(float(v), 5) for v in vector]
