"""The default avatar's parts beyond the bare head: hair and brows, lashes, a plain top, a
mouth that reads as a mouth, and how much of each vertex follows the head.

Everything here is shaped from the MakeHuman base mesh the builder reads (its helper
geometry for lashes, teeth, tongue and the top; the head's own skin for hair and brows),
so it fits the head exactly and carries the same ARKit deltas where it should move.
"""

from dataclasses import replace

import numpy as np

from app.avatar import geometry
from app.avatar.default_look import hair_texture, lash_texture, smoothstep
from app.avatar.model import Material, MeshPart, PartRole

TONGUE_HEIGHT_SCALE = 0.6  # MakeHuman's tongue bulges above the lower teeth; flatten it
TONGUE_DROP_M, TONGUE_BACK_M = 0.002, 0.002  # and rest its tip behind the lower incisors
UPPER_TEETH_DROP_M = 0.0015  # upper incisors show a little below the upper lip when it parts
HAIR_ROOT_M, HAIR_CROWN_M = 0.0006, 0.0055  # hair shell offset at the hairline and on top
HAIR_SHELL_MARGIN_M = 0.012  # the shell reaches past the hairline; its texture cuts the edge
HAIR_RISE_M = 0.03  # how far above the hairline the hair reaches its full height
BROW_OFFSET_M = 0.0009  # brow hairs stand this far off the skin
EAR_MARGIN = 0.25  # skin with more than this share of MakeHuman's ear mask is ear, not scalp
TOP_CUT_BELOW_NECK_M = 0.16  # the bust ends in a flat cut this far below the neck joint
TOP_HALF_WIDTH_M = 0.19  # and at the shoulders, in flat cuts this far either side
COLLAR_FRONT_M, COLLAR_BACK_M = -0.012, 0.012  # crew neck height against the neck joint
HEAD_FOLLOW_FROM_M, HEAD_FOLLOW_TO_M = 0.0, 0.06  # neck skin blends from body to head
TOP_COLOUR = (0.13, 0.19, 0.24, 1.0)  # linear; a dark slate blue
LASH_TEXTURE_PX = (256, 64)  # along the lid, root to tip
LASH_GROUPS = ("helper-l-eyelashes-1", "helper-l-eyelashes-2",
               "helper-r-eyelashes-1", "helper-r-eyelashes-2")
UPPER_LASH_GROUPS = ("helper-l-eyelashes-2", "helper-r-eyelashes-2")


def group_vertices(base, group: str) -> np.ndarray:
    """Indices of the base mesh vertices a helper group's faces use."""
    return np.unique(base.corners[group][0])


def settle_mouth(base):
    """The base mesh with a mouth that reads when the jaw opens: the tongue flattened to lie
    below the lower teeth's edge, and the upper teeth lowered to just show under the lip."""
    positions = base.positions.copy()
    tongue = group_vertices(base, "helper-tongue")
    floor = positions[tongue, 1].min()
    positions[tongue, 1] = floor - TONGUE_DROP_M + (positions[tongue, 1] - floor) * TONGUE_HEIGHT_SCALE
    positions[tongue, 2] -= TONGUE_BACK_M
    positions[group_vertices(base, "helper-upper-teeth"), 1] -= UPPER_TEETH_DROP_M
    return replace(base, positions=positions)


def head_follow(positions: np.ndarray, neck_joint_y: float) -> np.ndarray:
    """Share of the head's pose each vertex takes (V,): the head and upper neck turn with
    it, the base of the neck stays with the body, in a smooth blend between."""
    lo, hi = neck_joint_y + HEAD_FOLLOW_FROM_M, neck_joint_y + HEAD_FOLLOW_TO_M
    return smoothstep(lo, hi, positions[:, 1].astype(np.float64)).astype(np.float32)


# ---- shells over the skin: hair and brows ----

def hairline_height(points: np.ndarray, landmarks: dict) -> np.ndarray:
    """Height (m) of the hairline of a short cut, by direction around the head: high over
    the forehead, receding at the temples, down to sideburns before the ears, over the
    ears and down to the nape."""
    eye = landmarks["eye_left"]
    centre_z = landmarks["head_centre_z"]
    around = np.abs(np.arctan2(points[..., 0], points[..., 2] - centre_z))  # 0 front, pi back
    knots = np.array([0.0, 0.45, 0.85, 1.05, 1.22, 1.42, 1.75, 2.3, np.pi])
    above_eye = np.array([0.072, 0.070, 0.058, 0.030, 0.000, 0.012, 0.010, -0.030, -0.062])
    return eye[1] + np.interp(around, knots, above_eye)


def hair_mask(positions: np.ndarray, ears: np.ndarray, landmarks: dict) -> np.ndarray:
    """Skin vertices under the hair (V,) bool: above the hairline, not on the ears."""
    return (positions[:, 1] > hairline_height(positions, landmarks) - HAIR_SHELL_MARGIN_M) & (ears < EAR_MARGIN)


def brow_mask(positions: np.ndarray, normals: np.ndarray, landmarks: dict) -> np.ndarray:
    """Skin vertices under the eyebrows (V,) bool: a band above each eye on the front."""
    eye = landmarks["eye_left"]
    x, y = np.abs(positions[:, 0]), positions[:, 1]
    return ((y > eye[1] + 0.010) & (y < eye[1] + 0.034) & (x < abs(eye[0]) + 0.036)
            & (x > 0.004) & (normals[:, 2] > 0.3))


def sub_arrays(arrays: dict, keep_triangles: np.ndarray) -> dict:
    """A part's arrays cut down to some of its triangles and the vertices they use."""
    used, new_tris = geometry.compact(arrays["indices"][keep_triangles])
    per_vertex = {k: v[used] for k, v in arrays.items()
                  if k not in ("indices", "morph_positions", "morph_normals") and v is not None}
    morphs = {k: arrays[k][:, used] for k in ("morph_positions", "morph_normals")}
    return {**per_vertex, **morphs, "indices": new_tris}


def shell(arrays: dict, keep: np.ndarray, offset_m: np.ndarray) -> dict:
    """The triangles of a part whose corners are all kept, lifted along their normals by
    a per-vertex offset; the morph deltas come along, so the shell moves with the skin."""
    lifted = dict(arrays, positions=arrays["positions"] + arrays["normals"] * offset_m[:, None])
    lifted["positions"] = lifted["positions"].astype(np.float32)
    part = sub_arrays(lifted, np.all(keep[arrays["indices"]], axis=1))
    part.pop("regions", None)
    part.pop("head_weights", None)
    return part


def hair_part(skin: dict, ears: np.ndarray, landmarks: dict, points: np.ndarray) -> MeshPart:
    """Short hair and eyebrows: shells over the scalp and brows, cut out by their texture
    (a ragged hairline, single brow hairs), sharing the skin's UV layout (`points`: the
    skin's `surface_points`; `ears`: each skin vertex's share of the ear mask)."""
    positions = skin["positions"].astype(np.float64)
    hairline = hairline_height(positions, landmarks)
    rise = smoothstep(0.0, HAIR_RISE_M, positions[:, 1] - hairline)
    offset = HAIR_ROOT_M + (HAIR_CROWN_M - HAIR_ROOT_M) * rise
    brows = brow_mask(positions, skin["normals"], landmarks)
    offset = np.where(brows, BROW_OFFSET_M, offset)
    arrays = shell(skin, hair_mask(positions, ears, landmarks) | brows, offset)
    texture = hair_texture(points, landmarks, lambda p: hairline_height(p, landmarks))
    material = Material("hair", roughness=0.8, base_color_texture=texture,
                        alpha_mode="MASK", alpha_cutoff=0.5, double_sided=True)
    count = len(arrays["positions"])
    return MeshPart("hair", PartRole.OTHER, material, regions=np.full(count, -1.0, np.float32),
                    **arrays)


# ---- lashes ----

def lash_uvs(base, tris: np.ndarray, uv_tris: np.ndarray, groups) -> np.ndarray:
    """Per-corner UVs for the lash strips: u along the lid, v from the root (0) to the tip
    (1). MakeHuman lays each strip out along x with the lid in v, upper strips upside down."""
    uvs = base.uvs[uv_tris].copy()  # (T, 3, 2)
    start = 0
    for group in groups:
        count = len(base.corners[group][0])
        strip = uvs[start : start + count]
        lo, hi = strip.reshape(-1, 2).min(axis=0), strip.reshape(-1, 2).max(axis=0)
        strip = (strip - lo) / (hi - lo)
        if group in UPPER_LASH_GROUPS:
            strip[..., 1] = 1.0 - strip[..., 1]
        uvs[start : start + count] = strip
        start += count
    return uvs


def lashes_part(base, deltas: np.ndarray, part_arrays) -> MeshPart:
    """Upper and lower lashes from MakeHuman's lash strips, which the eyelid targets move,
    as cards cut out by a texture of single dark hairs."""
    tris = np.concatenate([base.corners[g][0] for g in LASH_GROUPS])
    uv_tris = np.concatenate([base.corners[g][1] for g in LASH_GROUPS])
    corner_uvs = lash_uvs(base, tris, uv_tris, LASH_GROUPS).reshape(-1, 2)
    # A fresh UV table: one entry per distinct (vertex, rescaled uv) corner.
    keys = np.column_stack([tris.reshape(-1), np.rint(corner_uvs * 1e6)])
    table, corner_of = np.unique(keys, axis=0, return_inverse=True)
    lashed = replace(base, uvs=table[:, 1:] / 1e6)
    arrays = part_arrays(lashed, tris, corner_of.reshape(tris.shape), deltas)
    material = Material("lashes", roughness=0.6, base_color_texture=lash_texture(*LASH_TEXTURE_PX),
                        alpha_mode="MASK", alpha_cutoff=0.5, double_sided=True)
    count = len(arrays["positions"])
    return MeshPart("lashes", PartRole.OTHER, material, regions=np.full(count, -1.0, np.float32),
                    **arrays)


# ---- the top ----

def collar_height(points: np.ndarray, neck_joint: np.ndarray) -> np.ndarray:
    """A crew neck: lower at the front of the neck than at the back."""
    front = smoothstep(-0.03, 0.05, points[:, 2] - neck_joint[2])
    return neck_joint[1] + COLLAR_BACK_M + (COLLAR_FRONT_M - COLLAR_BACK_M) * front


def top_part(base, part_arrays, deltas: np.ndarray) -> MeshPart:
    """A plain crew-neck top from MakeHuman's tights helper (a shell just off the body),
    cut into a bust: flat below the chest and at the shoulders, the collar round the neck.
    Cut edges are flat because the vertices past a cut are moved onto it."""
    neck = base.joint("joint-neck")
    tris = base.corners["helper-tights"][0]
    points = base.positions
    bottom = neck[1] - TOP_CUT_BELOW_NECK_M
    inside = (points[:, 1] > bottom) & (np.abs(points[:, 0]) < TOP_HALF_WIDTH_M) \
        & (points[:, 1] < collar_height(points, neck))
    keep = np.any(inside[tris], axis=1)
    kept = base.corners["helper-tights"][0][keep], base.corners["helper-tights"][1][keep]
    flat = base.positions.copy()
    used = np.unique(kept[0])
    flat[used, 1] = np.clip(flat[used, 1], bottom, collar_height(flat[used], neck))
    flat[used, 0] = np.clip(flat[used, 0], -TOP_HALF_WIDTH_M, TOP_HALF_WIDTH_M)
    arrays = part_arrays(replace(base, positions=flat), *kept, np.zeros_like(deltas))
    material = Material("top", TOP_COLOUR, roughness=0.85, double_sided=True)
    count = len(arrays["positions"])
    return MeshPart("top", PartRole.OTHER, material, regions=np.full(count, -1.0, np.float32),
                    head_weights=np.zeros(count, np.float32), **arrays)
