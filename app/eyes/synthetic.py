"""A synthetic infrared eye-camera image, a pure function of the gaze, for tests and demos.

The camera faces the eye. The eyeball is a sphere of radius R centred in the image, and
the pupil sits where the gaze direction leaves the sphere, seen along the camera axis:

    x = cx + R sin(yaw) cos(pitch),    y = cy - R sin(pitch)

so yaw > 0 moves the pupil to image right and pitch > 0 (looking up) moves it up. Iris
and pupil are discs on the sphere, seen at an angle: across the direction they moved in
they keep their radius, along it they shrink by cos(gaze, camera axis) = cos(yaw) cos(pitch).

Sizes scale with the image width, so one gaze gives the same picture at any resolution.
Pixel (i, j)'s centre is at x = i, y = j, as in OpenCV.
"""

import math
from pathlib import Path

import cv2
import numpy as np

EYEBALL_RADIUS_FRACTION = 0.45  # of the image width
IRIS_RADIUS_FRACTION = 0.16  # of the image width
PUPIL_TO_IRIS = 0.35  # pupil radius / iris radius
GLINT_RADIUS_FRACTION = 0.012  # of the image width
GLINT_OFFSETS = ((-0.45, -0.40), (0.50, -0.30))  # two IR LEDs' reflections, pupil radii
APERTURE_HALF_WIDTH_FRACTION = 0.48  # of the width: the eye corners
UPPER_LID_REACH_FRACTION = 0.50  # of the height above the centre, fully open
LOWER_LID_REACH_FRACTION = 0.42  # of the height below the centre, fully open
SKIN_GREY, SKIN_GRADIENT_GREY = 118.0, 20.0  # lit from below: brighter at the bottom
SCLERA_GREY, IRIS_GREY, PUPIL_GREY, GLINT_GREY = 180, 90, 25, 250
BLUR_SIGMA_FRACTION = 0.006  # the lens, of the width
NOISE_SIGMA_GREY = 4.0  # the sensor
SUBPIXEL_BITS = 4  # OpenCV draws at 1/16 px
VIDEO_CODECS = ("FFV1", "MJPG")  # lossless first; MJPG (lossy, ±16 grey) almost everywhere


def pupil_centre_px(gaze_yaw_rad: float, gaze_pitch_rad: float, *, width_px: int = 160,
                    height_px: int = 120) -> tuple[float, float]:
    """The pupil centre render_eye draws for this gaze, in pixels."""
    radius_px = EYEBALL_RADIUS_FRACTION * width_px
    x = (width_px - 1) / 2 + radius_px * math.sin(gaze_yaw_rad) * math.cos(gaze_pitch_rad)
    y = (height_px - 1) / 2 - radius_px * math.sin(gaze_pitch_rad)
    return x, y


def _fixed(value: float) -> int:
    return round(value * (1 << SUBPIXEL_BITS))


def _ellipse(image: np.ndarray, centre: tuple[float, float], axes_px: tuple[float, float],
             angle_deg: float, grey: float, arc_deg: tuple[float, float] = (0, 360)) -> None:
    """A filled, anti-aliased ellipse (or pie slice) at sub-pixel precision."""
    cv2.ellipse(image, (_fixed(centre[0]), _fixed(centre[1])),
                (_fixed(axes_px[0]), _fixed(axes_px[1])), angle_deg, arc_deg[0], arc_deg[1],
                grey, -1, cv2.LINE_AA, SUBPIXEL_BITS)


def _eyeball(yaw_rad: float, pitch_rad: float, width_px: int, height_px: int) -> np.ndarray:
    """Sclera, iris, pupil and glints over the whole frame; the lids cut it out later."""
    image = np.full((height_px, width_px), SCLERA_GREY, np.uint8)
    centre = pupil_centre_px(yaw_rad, pitch_rad, width_px=width_px, height_px=height_px)
    # Seen at an angle, a disc on the sphere shrinks along the way it moved.
    squash = math.cos(yaw_rad) * math.cos(pitch_rad)
    angle_deg = math.degrees(math.atan2(-math.sin(pitch_rad),
                                        math.sin(yaw_rad) * math.cos(pitch_rad)))
    iris_px = IRIS_RADIUS_FRACTION * width_px
    pupil_px = PUPIL_TO_IRIS * iris_px
    _ellipse(image, centre, (iris_px * squash, iris_px), angle_deg, IRIS_GREY)
    _ellipse(image, centre, (pupil_px * squash, pupil_px), angle_deg, PUPIL_GREY)
    glint_px = GLINT_RADIUS_FRACTION * width_px
    for dx, dy in GLINT_OFFSETS:
        glint = (centre[0] + dx * pupil_px, centre[1] + dy * pupil_px)
        _ellipse(image, glint, (glint_px, glint_px), 0.0, GLINT_GREY)
    return image


def _aperture(width_px: int, height_px: int, openness: float) -> np.ndarray:
    """How much of each pixel lies between the lids (0..1)."""
    mask = np.zeros((height_px, width_px), np.uint8)
    if openness <= 0:
        return mask.astype(np.float32)
    centre = ((width_px - 1) / 2, (height_px - 1) / 2)
    half_width_px = APERTURE_HALF_WIDTH_FRACTION * width_px
    upper_px = openness * UPPER_LID_REACH_FRACTION * height_px
    lower_px = openness * LOWER_LID_REACH_FRACTION * height_px
    _ellipse(mask, centre, (half_width_px, upper_px), 0.0, 255, (180, 360))
    _ellipse(mask, centre, (half_width_px, lower_px), 0.0, 255, (0, 180))
    return mask.astype(np.float32) / 255.0


def _skin(width_px: int, height_px: int) -> np.ndarray:
    rows = np.linspace(-0.5, 0.5, height_px, dtype=np.float32)[:, None]
    return np.broadcast_to(SKIN_GREY + SKIN_GRADIENT_GREY * rows, (height_px, width_px))


def render_eye(gaze_yaw_rad: float, gaze_pitch_rad: float, *, width_px: int = 160,
               height_px: int = 120, openness: float = 1.0, seed: int = 0) -> np.ndarray:
    """A grey uint8 (height_px, width_px) eye image; openness 1 is wide open, 0 closed."""
    eye = _eyeball(gaze_yaw_rad, gaze_pitch_rad, width_px, height_px).astype(np.float32)
    between_lids = _aperture(width_px, height_px, min(openness, 1.0))
    skin = _skin(width_px, height_px)
    image = skin + between_lids * (eye - skin)
    image = cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA_FRACTION * width_px)
    image += np.random.default_rng(seed).normal(0.0, NOISE_SIGMA_GREY, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _open_writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    for codec in VIDEO_CODECS:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size, True)
        if writer.isOpened():
            return writer
        writer.release()
    raise RuntimeError(f"OpenCV cannot write {path} with any of {', '.join(VIDEO_CODECS)}; "
                       "try a .mkv or .avi path.")


def write_eye_video(path: Path, gazes_rad: np.ndarray, fps: float, *,
                    openness: np.ndarray | None = None, width_px: int = 160,
                    height_px: int = 120) -> None:
    """One frame per (yaw, pitch) row of `gazes_rad`, frame k with noise seed k, so a test
    can render any frame again. The container follows the path's suffix (.mkv, .avi);
    RuntimeError when OpenCV has no codec for it here."""
    gazes_rad = np.asarray(gazes_rad, np.float64).reshape(-1, 2)
    openness = np.ones(len(gazes_rad)) if openness is None else np.asarray(openness, float)
    if openness.shape != (len(gazes_rad),):
        raise ValueError(f"openness has shape {openness.shape}; need ({len(gazes_rad)},).")
    writer = _open_writer(Path(path), fps, (width_px, height_px))
    try:
        for index, ((yaw_rad, pitch_rad), open_) in enumerate(zip(gazes_rad, openness)):
            grey = render_eye(yaw_rad, pitch_rad, width_px=width_px, height_px=height_px,
                              openness=float(open_), seed=index)
            writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()
