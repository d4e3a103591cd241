"""Writes an `Avatar` as a glTF 2.0 binary (.glb) that `app.avatar.gltf` and other tools read.

Each part is one node and one mesh with a single triangle primitive. Morph targets use
sparse accessors (a face target moves a few hundred vertices of thousands), their names
(the avatar's channels: ARKit names, or a VRM's expressions) go in `mesh.extras.targetNames`, the convention Blender, three.js and Ready Player Me
share. liveface metadata rides in `extras`: the part's role and eye centre on its node,
the neck pivot and what cameras frame on the scene; a part whose vertices follow the head
only partly (a neck blending into the body) carries that share as `_HEAD_WEIGHT`. The
output depends only on the avatar, byte for byte.
"""

import io
from pathlib import Path

import numpy as np
import pygltflib as gl
from PIL import Image

from app.avatar.model import Avatar, Material, MeshPart, PartRole

NORMAL_DELTA_EPS = 1e-5  # normal changes below this are rounding noise, not motion


class _Packer:
    """Collects binary chunks into one buffer and describes them as glTF views/accessors."""

    def __init__(self, doc: gl.GLTF2):
        self.doc = doc
        self.blob = bytearray()
        self.materials: dict[int, int] = {}  # id(Material) -> index: parts may share one

    def view(self, data: bytes, target: int | None = None) -> int:
        self.blob.extend(b"\0" * (-len(self.blob) % 4))  # every view starts 4-byte aligned
        self.doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target))
        self.blob.extend(data)
        return len(self.doc.bufferViews) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None = gl.ARRAY_BUFFER, bounds=False) -> int:
        array = np.ascontiguousarray(array)
        component = {np.float32: gl.FLOAT, np.uint32: gl.UNSIGNED_INT, np.uint16: gl.UNSIGNED_SHORT}[array.dtype.type]
        acc = gl.Accessor(bufferView=self.view(array.tobytes(), target), componentType=component, count=len(array), type=kind)
        if bounds:
            acc.min, acc.max = _bounds(array)
        self.doc.accessors.append(acc)
        return len(self.doc.accessors) - 1

    def sparse_vec3(self, delta: np.ndarray, rows: np.ndarray, bounds: bool) -> int:
        """A VEC3 accessor that is zero except at `rows` (no bufferView: glTF zero-fills)."""
        # byteOffset belongs to a bufferView; pygltflib would write 0 where none is (invalid)
        acc = gl.Accessor(componentType=gl.FLOAT, count=len(delta), type=gl.VEC3, byteOffset=None)
        if len(rows):
            index_view = self.view(rows.astype(np.uint32).tobytes())
            value_view = self.view(np.ascontiguousarray(delta[rows], dtype=np.float32).tobytes())
            acc.sparse = gl.Sparse(
                count=len(rows),
                indices=gl.AccessorSparseIndices(bufferView=index_view, componentType=gl.UNSIGNED_INT),
                values=gl.AccessorSparseValues(bufferView=value_view),
            )
        if bounds:
            acc.min, acc.max = _bounds(delta)
        self.doc.accessors.append(acc)
        return len(self.doc.accessors) - 1


def _bounds(array: np.ndarray) -> tuple[list[float], list[float]]:
    flat = array.reshape(len(array), -1).astype(np.float64)
    return [float(v) for v in flat.min(axis=0)], [float(v) for v in flat.max(axis=0)]


def write_avatar(avatar: Avatar, path: Path) -> None:
    """Write `avatar` to `path` as a .glb file."""
    save_glb(*avatar_document(avatar), path)


def avatar_document(avatar: Avatar) -> tuple[gl.GLTF2, _Packer]:
    """The glTF document of `avatar` and the packer holding its binary data, not yet saved
    (so a caller may add to both, as the animation export does)."""
    doc = gl.GLTF2(asset=gl.Asset(generator="liveface", version="2.0"))
    doc.samplers.append(gl.Sampler(magFilter=gl.LINEAR, minFilter=gl.LINEAR_MIPMAP_LINEAR))
    packer = _Packer(doc)
    for part in avatar.parts:
        _add_part(packer, avatar, part)
    liveface = {"neck_pivot": _floats(avatar.neck_pivot)}
    if avatar.head_bounds is not None:
        liveface["head_bounds"] = [_floats(corner) for corner in avatar.head_bounds]
    doc.scenes.append(gl.Scene(nodes=list(range(len(doc.nodes))), extras={"liveface": liveface}))
    doc.scene = 0
    return doc, packer


def save_glb(doc: gl.GLTF2, packer: _Packer, path: Path) -> None:
    """The document and its one buffer as a .glb file."""
    doc.buffers.append(gl.Buffer(byteLength=len(packer.blob)))
    doc.set_binary_blob(bytes(packer.blob))
    path.write_bytes(b"".join(doc.save_to_bytes()))


def _floats(vector) -> list[float]:
    return [round(float(v), 6) for v in vector]


def _add_part(packer: _Packer, avatar: Avatar, part: MeshPart) -> None:
    doc = packer.doc
    attributes = gl.Attributes(
        POSITION=packer.accessor(part.positions.astype(np.float32), gl.VEC3, bounds=True),
        NORMAL=packer.accessor(part.normals.astype(np.float32), gl.VEC3),
        TEXCOORD_0=packer.accessor(part.uvs.astype(np.float32), gl.VEC2),
    )
    if part.tangents is not None:
        attributes.TANGENT = packer.accessor(part.tangents.astype(np.float32), gl.VEC4)
    if np.any(part.regions >= 0):
        attributes._REGION = packer.accessor(part.regions.astype(np.float32), gl.SCALAR)
    if part.head_weights is not None:
        attributes._HEAD_WEIGHT = packer.accessor(part.head_weights.astype(np.float32), gl.SCALAR)
    index_type = np.uint16 if part.vertex_count < 65536 else np.uint32
    indices = packer.accessor(part.indices.astype(index_type).ravel(), gl.SCALAR, gl.ELEMENT_ARRAY_BUFFER)
    primitive = gl.Primitive(attributes=attributes, indices=indices, mode=gl.TRIANGLES,
                             material=_add_material(packer, part.material))
    mesh = gl.Mesh(name=part.name, primitives=[primitive])
    if np.any(part.morph_positions) or np.any(part.morph_normals):
        primitive.targets = [_add_target(packer, part, k) for k in range(len(avatar.channels))]
        mesh.weights = [0.0] * len(avatar.channels)
        mesh.extras = {"targetNames": list(avatar.channels)}
    doc.meshes.append(mesh)
    extras = {"liveface_role": part.role.value}
    if part.role in (PartRole.EYE_LEFT, PartRole.EYE_RIGHT) and part.role in avatar.eye_centers:
        extras["liveface_eye_center"] = _floats(avatar.eye_centers[part.role])
    doc.nodes.append(gl.Node(name=part.name, mesh=len(doc.meshes) - 1, extras=extras))


def _add_target(packer: _Packer, part: MeshPart, k: int) -> dict:
    """One morph target: POSITION and NORMAL deltas sharing the rows that change."""
    dpos, dnrm = part.morph_positions[k], part.morph_normals[k]
    moved = np.any(dpos != 0.0, axis=1) | np.any(np.abs(dnrm) > NORMAL_DELTA_EPS, axis=1)
    rows = np.flatnonzero(moved)
    return {
        "POSITION": packer.sparse_vec3(dpos, rows, bounds=True),
        "NORMAL": packer.sparse_vec3(dnrm, rows, bounds=False),
    }


def _add_material(packer: _Packer, material: Material) -> int:
    """The material's index, written once however many parts share it (and its textures)."""
    if id(material) in packer.materials:
        return packer.materials[id(material)]
    doc = packer.doc
    pbr = gl.PbrMetallicRoughness(baseColorFactor=list(material.base_color), metallicFactor=0.0,
                                  roughnessFactor=float(material.roughness))
    if material.base_color_texture is not None:
        pbr.baseColorTexture = gl.TextureInfo(index=_add_texture(packer, material.base_color_texture))
    result = gl.Material(name=material.name, pbrMetallicRoughness=pbr, doubleSided=material.double_sided)
    if material.alpha_mode != "OPAQUE":
        result.alphaMode = material.alpha_mode
        result.alphaCutoff = float(material.alpha_cutoff) if material.alpha_mode == "MASK" else None
    if material.normal_texture is not None:
        result.normalTexture = gl.NormalMaterialTexture(index=_add_texture(packer, material.normal_texture))
    doc.materials.append(result)
    packer.materials[id(material)] = len(doc.materials) - 1
    return len(doc.materials) - 1


def _add_texture(packer: _Packer, rgba: np.ndarray) -> int:
    """Embed an image as PNG (RGB when fully opaque, which keeps the file smaller)."""
    image = Image.fromarray(rgba, "RGBA")
    if np.all(rgba[..., 3] == 255):
        image = image.convert("RGB")
    png = io.BytesIO()
    image.save(png, format="PNG", optimize=True)
    doc = packer.doc
    doc.images.append(gl.Image(bufferView=packer.view(png.getvalue()), mimeType="image/png"))
    doc.textures.append(gl.Texture(sampler=0, source=len(doc.images) - 1))
    return len(doc.textures) - 1
