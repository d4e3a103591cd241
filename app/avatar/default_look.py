"""The painted look of the default avatar: its skin and eye textures, baked by code.

The MakeHuman data has region masks but no colour textures, so we paint our own: a skin
tone with gentle blotches, redder lips and cheeks, darker eyelids, eyebrows (the base mesh
has none, and brows must be visible for brow motion to read), and an eye with veined
sclera, a streaked iris and a black pupil. Seeds are fixed so every build is identical.
"""

import numpy as np
from PIL import Image

from app.avatar import geometry

SKIN_SRGB = np.array([214.0, 160.0, 134.0])
LIP_SRGB = np.array([176.0, 98.0, 96.0])
MOUTH_INSIDE_SRGB = np.array([110.0, 45.0, 48.0])
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


def skin_texture(arrays: dict, landmarks: dict, masks: dict, size: int) -> np.ndarray:
    """(size, size, 4) sRGB skin for the head's UV layout.

    A map of the 3D position under each texel lets us paint by anatomy (brows above the
    eyes, flushed cheeks, a darkened neck cut), while MakeHuman's masks place lips and
    eyelids exactly where its UVs put them.
    """
    points, covered = geometry.rasterize_uv(
        arrays["uvs"], arrays["indices"], arrays["positions"].astype(np.float64), size
    )
    points = geometry.dilate(points, covered, steps=12)
    rng = np.random.default_rng(SEED)
    colour = SKIN_SRGB * (1.0 + 0.035 * value_noise(size, 24, rng))[..., None]
    colour = colour * (1.0 + 0.012 * value_noise(size, 160, rng))[..., None]
    colour = _blend(colour, np.array([200.0, 120.0, 110.0]), 0.35 * _flush(points, landmarks))
    colour = _blend(colour, LIP_SRGB, 0.9 * smoothstep(0.2, 0.8, masks["lips"]))
    colour = _blend(colour, MOUTH_INSIDE_SRGB, smoothstep(0.3, 0.8, masks["inside-mouth"]))
    colour = colour * (1.0 - 0.13 * masks["eyelids"])[..., None]
    colour = _blend(colour, BROW_SRGB, _brows(points, landmarks, rng, size))
    colour = colour * (1.0 - 0.45 * _near_cut(points, landmarks))[..., None]
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


def _near_cut(points: np.ndarray, landmarks: dict) -> np.ndarray:
    """Shade the bottom of the neck so the open cut reads as shadow, not as an edge."""
    return 1.0 - smoothstep(landmarks["neck_cut_y"], landmarks["neck_cut_y"] + 0.03, points[..., 1])


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
