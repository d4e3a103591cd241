"""Mesh arithmetic shared by the avatar builder and the glTF loader.

Plain numpy on (V, 3) positions and (T, 3) triangle indices, no file formats: smooth
normals, tangents, a UV sphere for gaze-driven eyes, compaction of a vertex subset, and a
software rasteriser that bakes per-vertex data into texture space.
"""

import numpy as np


def smooth_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals; isolated vertices get +Z so nothing is ever NaN."""
    pos = positions.astype(np.float64)
    a, b, c = (pos[triangles[:, i]] for i in range(3))
    face = np.cross(b - a, c - a)  # length = 2 * area, so big faces weigh more
    normals = np.zeros_like(pos)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], face)
    return _unit_or_z(normals).astype(np.float32)


def _unit_or_z(vectors: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    out = np.divide(vectors, length, out=np.zeros_like(vectors), where=length > 1e-20)
    out[length[:, 0] <= 1e-20] = (0.0, 0.0, 1.0)
    return out


def triangulate(polygon: list[int]) -> list[tuple[int, int, int]]:
    """Fan triangulation of a convex polygon (the OBJ quads and triangles we read)."""
    return [(polygon[0], polygon[i], polygon[i + 1]) for i in range(1, len(polygon) - 1)]


def compact(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the vertices the triangles use: (old index per new vertex, new triangles)."""
    used = np.unique(triangles)
    remap = np.full(int(triangles.max()) + 1, -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return used, remap[triangles].astype(np.uint32)


def uv_sphere(center: np.ndarray, radius: float, segments: int = 32, rings: int = 24):
    """A sphere whose pole points at +Z, with polar UVs.

    The pole on +Z is where an eye's pupil sits at rest, so an eye texture needs only the
    polar angle: u = azimuth / 2pi, v = polar angle / pi (v = 0 at the pupil). A seam column
    is duplicated so UVs stay continuous. Returns (positions, normals, uvs, triangles).
    """
    polar = np.linspace(0.0, np.pi, rings + 1)
    azimuth = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    normals = np.stack([np.sin(p) * np.cos(a), np.sin(p) * np.sin(a), np.cos(p)], axis=-1)
    normals = normals.reshape(-1, 3)
    uvs = np.stack([a / (2.0 * np.pi), p / np.pi], axis=-1).reshape(-1, 2)
    row = segments + 1
    tris = []
    for r in range(rings):
        for s in range(segments):
            i0, i1 = r * row + s, r * row + s + 1
            j0, j1 = i0 + row, i1 + row
            if r > 0:
                tris.append((i0, j0, i1))  # ordered so the outside faces counter-clockwise
            if r < rings - 1:
                tris.append((i1, j0, j1))
    positions = center[None, :] + radius * normals
    return (
        positions.astype(np.float32),
        normals.astype(np.float32),
        uvs.astype(np.float32),
        np.asarray(tris, dtype=np.uint32),
    )


def tangents(positions, normals, uvs, triangles) -> np.ndarray:
    """Per-vertex tangents (xyz, handedness w) for tangent-space normal maps (glTF UVs)."""
    pos, uv = positions.astype(np.float64), uvs.astype(np.float64)
    a, b, c = (triangles[:, i] for i in range(3))
    e1, e2 = pos[b] - pos[a], pos[c] - pos[a]
    d1, d2 = uv[b] - uv[a], uv[c] - uv[a]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    inv = np.where(np.abs(det) > 1e-12, 1.0 / np.where(det == 0, 1, det), 0.0)[:, None]
    # glTF's v grows downwards, so the bitangent follows -v.
    tan = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * inv
    bit = -(e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * inv
    t_sum, b_sum = np.zeros_like(pos), np.zeros_like(pos)
    for corner in (a, b, c):
        np.add.at(t_sum, corner, tan)
        np.add.at(b_sum, corner, bit)
    n = normals.astype(np.float64)
    t = _unit_or_z(t_sum - n * np.sum(n * t_sum, axis=1, keepdims=True))
    w = np.where(np.sum(np.cross(n, t) * b_sum, axis=1) < 0.0, -1.0, 1.0)
    return np.concatenate([t, w[:, None]], axis=1).astype(np.float32)


def rasterize_uv(uvs: np.ndarray, triangles: np.ndarray, values: np.ndarray, size: int):
    """Bake per-vertex `values` (V, C) into a (size, size, C) texture laid out by `uvs`.

    Each texel takes the barycentric blend of the triangle covering it (glTF UVs: v = 0 is
    the top row). Returns (image, covered mask); uncovered texels are zero, which
    `dilate` fills so texture filtering never bleeds background into the seams.
    """
    image = np.zeros((size, size, values.shape[1]), dtype=np.float64)
    covered = np.zeros((size, size), dtype=bool)
    pix = uvs.astype(np.float64) * size - 0.5
    for tri in triangles:
        _raster_triangle(pix[tri], values[tri], image, covered)
    return image, covered


def _raster_triangle(corners, corner_values, image, covered) -> None:
    lo = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    hi = np.minimum(np.ceil(corners.max(axis=0)).astype(int), image.shape[0] - 1)
    if np.any(hi < lo):
        return
    xs, ys = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
    (x0, y0), (x1, y1), (x2, y2) = corners
    det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    if abs(det) < 1e-12:
        return
    w0 = ((y1 - y2) * (xs - x2) + (x2 - x1) * (ys - y2)) / det
    w1 = ((y2 - y0) * (xs - x2) + (x0 - x2) * (ys - y2)) / det
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
    if not inside.any():
        return
    weights = np.stack([w0[inside], w1[inside], w2[inside]], axis=1)
    image[ys[inside], xs[inside]] = weights @ corner_values
    covered[ys[inside], xs[inside]] = True


def dilate(image: np.ndarray, covered: np.ndarray, steps: int = 8) -> np.ndarray:
    """Grow covered texels outwards `steps` times, so mipmaps and bilinear lookups at UV
    seams read the island's own colour instead of the empty background."""
    image, covered = image.copy(), covered.copy()
    for _ in range(steps):
        total = np.zeros_like(image)
        count = np.zeros(covered.shape, dtype=np.float64)
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            shifted_cov = np.roll(covered, (dy, dx), axis=(0, 1))
            total += np.roll(image, (dy, dx), axis=(0, 1)) * shifted_cov[..., None]
            count += shifted_cov
        grow = ~covered & (count > 0)
        image[grow] = total[grow] / count[grow][:, None]
        covered = covered | grow
    return image


def region_labels(positions: np.ndarray, normals: np.ndarray, landmarks: dict) -> np.ndarray:
    """Texture-control region (index into REGIONS) of each face vertex, -1 elsewhere.

    Regions are laid out around the landmarks (eye centres, nose tip, mouth corners) in
    the order a rule could claim a vertex twice: eyes, mouth, nose, brows, forehead, cheeks.
    Only the front of the face gets a region; ears, scalp and neck keep -1.
    """
    from app.avatar.texture_controls import NO_REGION, REGION_INDEX

    x, y, z = (positions[:, i].astype(np.float64) for i in range(3))
    ax = np.abs(x)
    eye = landmarks["eye_left"]
    eye_x, eye_y, eye_z = abs(eye[0]), eye[1], eye[2]
    mouth, nose = landmarks["mouth_center"], landmarks["nose_tip"]
    half_mouth = (landmarks["mouth_left"][0] - landmarks["mouth_right"][0]) / 2.0
    front = (z > eye_z - 0.045) & (normals[:, 2] > 0.15)
    rules = (
        ("eyes", ((ax - eye_x) / 0.024) ** 2 + ((y - eye_y) / 0.015) ** 2 < 1.0),
        ("mouth", ((x - mouth[0]) / (half_mouth + 0.012)) ** 2 + ((y - mouth[1]) / 0.022) ** 2 < 1.0),
        ("nose", (ax < 0.019) & (y > nose[1] - 0.014) & (y < eye_y - 0.004)),
        ("brows", (y > eye_y + 0.008) & (y < eye_y + 0.028) & (ax < eye_x + 0.032)),
        ("forehead", (y >= eye_y + 0.028) & (y < eye_y + 0.085) & (ax < 0.062)),
        ("cheeks", (y > mouth[1] - 0.012) & (y < eye_y - 0.01) & (ax < 0.068)),
    )
    labels = np.full(len(positions), float(NO_REGION), dtype=np.float32)
    free = front.copy()
    for name, inside in rules:
        claim = free & inside
        labels[claim] = REGION_INDEX[name]
        free &= ~claim
    return labels
