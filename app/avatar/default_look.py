"""The painted look of the default avatar: its skin, eye, hair and lash textures, baked
by code.

The MakeHuman data has region masks but no colour textures, so we paint our own: a skin
tone with gentle blotches, redder lips and cheeks, darker eyelids, eyebrows (painted as
the shadow under the brow hairs of the hair texture), a mouth that darkens towards the
throat, an eye with veined sclera, a streaked iris and a black pupil, short hair streaming
from the crown, and single lash hairs. Seeds are fixed so every build is identical.
"""

import numpy as np
from PIL import Image

from app.avatar import geometry

SKIN_SRGB = np.array([214.0, 160.0, 134.0])
LIP_SRGB = np.array([176.0, 98.0, 96.0])
MOUTH_INSIDE_SRGB = np.array([92.0, 34.0, 38.0])
MOUTH_DEPTH_M = 0.045  # the mouth is this deep from the lips to where it is darkest
MOUTH_DEEP_SHADE = 0.12  # what is left of its colour there: the cavity reads as dark
HAIR_SRGB = np.array([52.0, 37.0, 28.0])
LASH_SRGB = np.array([20.0, 16.0, 14.0])
BROW_SRGB = np.array([62.0, 44.0, 34.0])
SCLERA_SRGB = np.array([236.0, 232.0, 226.0])
VEIN_SRGB = np.array([190.0, 90.0, 90.0])
IRIS_SRGB = np.array([96.0, 72.0, 48.0])
IRIS_RIM_SRGB = np.array([40.0, 34.0, 30.0])
IRIS_ANGLE_RAD = 0.40  # iris radius as seen from the eye centre (11.5 mm iris, 15 mm ball)
PUPIL_ANGLE_RAD = 0.14
SEED = 20240607


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def value_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in [-1, 1]: a random grid of `cells`² values resized bicubically."""
    grid = rng.uniform(0.0, 255.0, size=(cells, cells)).astype(np.uint8)
    image = Image.fromarray(grid, "L").resize((size, size), Image.BICUBIC)
    return np.asarray(image, dtype=np.float64) / 127.5 - 1.0


def _to_rgba(srgb: np.ndarray) -> np.ndarray:
    rgb = np.clip(np.rint(srgb), 0, 255).astype(np.uint8)
    alpha = np.full(rgb.shape[:2] + (1,), 255, dtype=np.uint8)
    return np.concatenate([rgb, alpha], axis=2)


def _blend(base: np.ndarray, colour: np.ndarray, amount: np.ndarray) -> np.ndarray:
    return base + (colour - base) * amount[..., None]


def surface_points(arrays: dict, size: int) -> np.ndarray:
    """(size, size, 3) map of the rest position under each texel of a part's UV layout,
    grown past the islands' edges, so textures can be painted by anatomy."""
    points, covered = geometry.rasterize_uv(
        arrays["uvs"], arrays["indices"], arrays["positions"].astype(np.float64), size
    )
    return geometry.dilate(points, covered, steps=12)


def skin_texture(points: np.ndarray, landmarks: dict, masks: dict) -> np.ndarray:
    """(size, size, 4) sRGB skin for the head's UV layout (`points` from `surface_points`).

    The position under each texel lets us paint by anatomy (brows above the eyes, flushed
    cheeks, a mouth darker the deeper it goes), while MakeHuman's masks place lips and
    eyelids exactly where its UVs put them.
    """
    size = points.shape[0]
    rng = np.random.default_rng(SEED)
    colour = SKIN_SRGB * (1.0 + 0.035 * value_noise(size, 24, rng))[..., None]
    colour = colour * (1.0 + 0.012 * value_noise(size, 160, rng))[..., None]
    colour = _blend(colour, np.array([200.0, 120.0, 110.0]), 0.35 * _flush(points, landmarks))
    colour = _blend(colour, LIP_SRGB, 0.9 * smoothstep(0.2, 0.8, masks["lips"]))
    inside = smoothstep(0.3, 0.8, masks["inside-mouth"])
    colour = _blend(colour, MOUTH_INSIDE_SRGB, inside)
    colour = colour * (1.0 - inside * (1.0 - _mouth_shade(points, landmarks)))[..., None]
    colour = colour * (1.0 - 0.13 * masks["eyelids"])[..., None]
    colour = _blend(colour, BROW_SRGB, _brows(points, landmarks, rng, size))
    return _to_rgba(colour)


def _flush(points: np.ndarray, landmarks: dict) -> np.ndarray:
    """Where skin is naturally redder: the cheeks and the tip of the nose."""
    eye, nose = landmarks["eye_left"], landmarks["nose_tip"]
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    cheek_y, cheek_x = eye[1] - 0.03, abs(eye[0]) + 0.01
    cheeks = np.exp(-(((np.abs(x) - cheek_x) / 0.02) ** 2 + ((y - cheek_y) / 0.018) ** 2))
    tip = np.exp(-(((x - nose[0]) ** 2 + (y - nose[1]) ** 2 + (z - nose[2]) ** 2) / 0.012**2))
    front = smoothstep(eye[2] - 0.06, eye[2] - 0.03, z)
    return np.clip(cheeks * front + 0.6 * tip, 0.0, 1.0)


def _brows(points: np.ndarray, landmarks: dict, rng, size: int) -> np.ndarray:
    """Eyebrow coverage: an arch above each eye, thick inside and tapering outwards,
    broken into hair-like streaks."""
    eye = landmarks["eye_left"]
    x, y, z = np.abs(points[..., 0]), points[..., 1], points[..., 2]
    inner, outer = 0.009, abs(eye[0]) + 0.03
    t = (x - inner) / (outer - inner)
    centre_y = eye[1] + 0.021 + 0.006 * np.sin(np.pi * np.clip(t, 0, 1) * 0.85) - 0.004 * t
    half = 0.0048 * (1.0 - 0.55 * np.clip(t, 0, 1))
    across = 1.0 - smoothstep(0.55, 1.0, np.abs(y - centre_y) / half)
    along = smoothstep(-0.08, 0.05, t) * (1.0 - smoothstep(0.85, 1.0, t))
    front = smoothstep(eye[2] - 0.035, eye[2] - 0.02, z)
    streaks = 0.72 + 0.28 * value_noise(size, 300, rng)
    return np.clip(0.85 * across * along * front * streaks, 0.0, 1.0)


def _mouth_shade(points: np.ndarray, landmarks: dict) -> np.ndarray:
    """How much light reaches into the mouth: full at the lips, little in the throat."""
    depth = landmarks["mouth_center"][2] - points[..., 2]
    return 1.0 - (1.0 - MOUTH_DEEP_SHADE) * smoothstep(0.004, MOUTH_DEPTH_M, depth)


def eye_texture(size: int) -> np.ndarray:
    """(size, size, 4) sRGB eye in polar layout: v = polar angle / pi from the pupil,
    u = azimuth / 2pi (see `geometry.uv_sphere`)."""
    rng = np.random.default_rng(SEED + 1)
    v, u = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size, indexing="ij")
    polar = v * np.pi
    azimuth = u * 2.0 * np.pi
    colour = _sclera(polar, azimuth, rng)
    streaks = _periodic_streaks(azimuth, polar, rng)
    iris = IRIS_SRGB[None, None, :] * (0.75 + 0.45 * streaks)[..., None]
    rim = smoothstep(IRIS_ANGLE_RAD - 0.08, IRIS_ANGLE_RAD, polar)
    iris = _blend(iris, IRIS_RIM_SRGB, 0.8 * rim)
    colour = _blend(colour, iris, 1.0 - smoothstep(IRIS_ANGLE_RAD - 0.01, IRIS_ANGLE_RAD + 0.01, polar))
    pupil = 1.0 - smoothstep(PUPIL_ANGLE_RAD - 0.01, PUPIL_ANGLE_RAD + 0.01, polar)
    colour = _blend(colour, np.array([8.0, 8.0, 10.0]), pupil)
    return _to_rgba(colour)


def _periodic_streaks(azimuth: np.ndarray, polar: np.ndarray, rng) -> np.ndarray:
    """Radial iris fibres: sums of sines in azimuth (so the seam at u = 0/1 matches) whose
    phase drifts with the polar angle."""
    total = np.zeros_like(azimuth)
    for frequency in (23, 37, 61, 89):
        phase = rng.uniform(0, 2 * np.pi)
        drift = rng.uniform(-3.0, 3.0)
        total += np.sin(frequency * azimuth + phase + drift * polar) / 4.0
    return total


def _sclera(polar: np.ndarray, azimuth: np.ndarray, rng) -> np.ndarray:
    """Off-white sclera, slightly pinker towards the corners, with a few faint veins that
    run from the back of the eye towards the iris."""
    colour = _blend(np.broadcast_to(SCLERA_SRGB, polar.shape + (3,)).copy(),
                    np.array([225.0, 200.0, 195.0]), 0.5 * smoothstep(0.9, 1.6, polar))
    veins = np.zeros_like(polar)
    for _ in range(14):
        start = rng.uniform(0, 2 * np.pi)
        wobble = rng.uniform(0.05, 0.15) * np.sin(rng.uniform(4, 9) * polar + rng.uniform(0, 6))
        offset = np.angle(np.exp(1j * (azimuth - start - wobble)))  # wraps at the seam
        reach = rng.uniform(IRIS_ANGLE_RAD + 0.25, IRIS_ANGLE_RAD + 0.6)
        veins = np.maximum(veins, np.exp(-(offset / 0.012) ** 2) * smoothstep(reach, reach + 0.5, polar))
    return _blend(colour, VEIN_SRGB, 0.35 * veins)


def hair_texture(points: np.ndarray, landmarks: dict, hairline) -> np.ndarray:
    """(size, size, 4) sRGB hair and eyebrows in the head's UV layout, alpha cut out:
    strands streaming from the crown, a hairline that frays into single hairs, and the
    brow hairs. `hairline(points)` gives the hairline's height under each texel."""
    size = points.shape[0]
    rng = np.random.default_rng(SEED + 2)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    crown = np.array([0.0, landmarks["crown_y"], landmarks["head_centre_z"] - 0.02])
    around = np.arctan2(x - crown[0], z - crown[2])
    away = np.sqrt((x - crown[0]) ** 2 + (z - crown[2]) ** 2 + (y - crown[1]) ** 2)
    strands = _periodic_streaks(around * 3.0, away * 40.0, rng)
    fray = 0.0015 * np.sin(around * 180.0 + 3.0 * strands)
    hair = smoothstep(-0.0015, 0.0025, y - hairline(points) + fray)
    colour = HAIR_SRGB * (0.8 + 0.35 * strands)[..., None]
    brows = _brows(points, landmarks, rng, size)
    colour = _blend(colour, BROW_SRGB * (0.85 + 0.3 * strands)[..., None], smoothstep(0.0, 0.2, brows))
    alpha = np.maximum(hair, smoothstep(0.25, 0.5, brows))
    rgba = _to_rgba(colour)
    rgba[..., 3] = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    return rgba


def lash_texture(width: int, height: int) -> np.ndarray:
    """(height, width, 4) sRGB lashes with alpha: u along the lid, v from the root (top
    row) to the tip; dense at the root, single curved hairs of varied length beyond."""
    rng = np.random.default_rng(SEED + 3)
    v, u = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width,
                       indexing="ij")
    alpha = 1.0 - smoothstep(0.08, 0.2, v)  # the lash line itself
    for _ in range(110):
        root, length = rng.uniform(0.02, 0.98), rng.uniform(0.5, 1.0)
        lean = rng.uniform(-0.04, 0.04)
        centre = root + lean * v * v
        half_width = 0.004 * (1.0 - 0.7 * v / length)
        hair = np.exp(-(((u - centre) / half_width) ** 2)) * (1.0 - smoothstep(length - 0.1, length, v))
        alpha = np.maximum(alpha, hair)
    alpha *= smoothstep(0.0, 0.04, u) * (1.0 - smoothstep(0.96, 1.0, u))  # thin at the corners
    rgba = _to_rgba(np.broadcast_to(LASH_SRGB, alpha.shape + (3,)))
    rgba[..., 3] = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    return rgba
