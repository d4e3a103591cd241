"""The dark-pupil tracker: where the pupil is in one infrared eye-camera image.

With the IR light off the camera axis (a dark-pupil camera) the pupil is the darkest round
thing in the picture. The classic method: shrink the image (the cost stays flat) and blur
it; threshold between its darkest pixels and its median, so exposure and skin tone do not
matter; close the dark mask so corneal glints leave no holes; score each dark blob by the
roundness of its convex hull, how much of the hull it fills, and how much darker it is
than a ring around it; fit an ellipse (a disc seen at an angle) to the best blob's edge,
leaving out edge points inside the hull, where a glint bit into it.

Limits: bright-pupil cameras (IR light on the axis, the pupil glows) are not handled. A
pupil cut by the image border is not reported; one half hidden by a lid is reported with
its centre pulled towards the visible part; dark lashes touching the pupil lower its score.
"""

from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE_PX = 320  # the image is shrunk until its longer side is at most this
BLUR_SIGMA_FRACTION = 0.005  # noise blur, of the width
DARK_PERCENTILE = 0.2  # "the darkest pixels": this percentile of the image
THRESHOLD_FRACTION = 0.25  # the threshold, from the darkest pixels towards the median
MIN_CONTRAST_GREY = 25.0  # median - darkest below this: nothing is dark (a blank frame)
MAX_DARK_RATIO = 0.5  # darkest / median above this: nothing is pupil-dark (iris, lashes)
GLINT_RADIUS_FRACTION = 0.025  # of the width: the closing fills glint bites this big
MIN_RADIUS_FRACTION, MAX_RADIUS_FRACTION = 0.01, 0.25  # plausible pupil radius, of width
RING_GAP, RING_WIDTH = 0.25, 0.5  # ring around a blob, in its radii: past its blurred edge
INSIDE_PERCENTILE = 25  # a blob's grey: this percentile of its pixels (glints left out)
FULL_CONTRAST_GREY = 40.0  # a ring this much brighter than the blob scores full contrast
GLINT_BITE_PX = 0.5  # edge points deeper than this inside the hull are left out of the fit
MIN_CONFIDENCE = 0.2  # weaker blobs are not reported at all
RELIABLE_CONFIDENCE = 0.5  # what calibration and gaze use; between the two: a doubtful fix


@dataclass(frozen=True)
class PupilFix:
    """x, y: the pupil centre as fractions of the image width and height (pixel i's centre
    is at (i + 0.5) / width), so a calibration does not depend on the camera's resolution.
    radius: a fraction of the width. confidence: 0..1."""

    x: float
    y: float
    radius: float
    confidence: float


def _grey(image: np.ndarray) -> np.ndarray:
    """2-D uint8; ValueError for what is not a uint8 grey or BGR image (a caller's bug)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"need a uint8 image, got {getattr(image, 'dtype', type(image))}")
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.size else image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"need a (H, W) grey or (H, W, 3) BGR image, got {image.shape}")
    return image


def _work_image(grey: np.ndarray) -> np.ndarray:
    scale = WORK_SIDE_PX / max(grey.shape)
    if scale < 1:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    sigma_px = max(0.5, BLUR_SIGMA_FRACTION * grey.shape[1])
    return cv2.GaussianBlur(np.ascontiguousarray(grey), (0, 0), sigma_px)


def _dark_levels(grey: np.ndarray) -> tuple[float, float] | None:
    """(darkest grey, threshold); None when nothing is dark enough to be a pupil."""
    darkest, median = np.percentile(grey, [DARK_PERCENTILE, 50.0])
    if median - darkest < MIN_CONTRAST_GREY or darkest > MAX_DARK_RATIO * median:
        return None
    return float(darkest), float(darkest + THRESHOLD_FRACTION * (median - darkest))


def _disc(radius_px: float) -> np.ndarray:
    side = 2 * max(1, round(radius_px)) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))


def _dark_blobs(grey: np.ndarray, threshold: float) -> list[np.ndarray]:
    dark = (grey <= threshold).astype(np.uint8)
    dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, _disc(GLINT_RADIUS_FRACTION * grey.shape[1]))
    return list(cv2.findContours(dark, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0])


def _inside_and_ring(grey: np.ndarray, hull: np.ndarray, radius_px: float) -> tuple[float, float]:
    """The grey inside the hull (its darker part: no glints, no blurred edge), and around it."""
    inside = cv2.drawContours(np.zeros_like(grey), [hull], 0, 255, -1)
    outer = cv2.dilate(inside, _disc((RING_GAP + RING_WIDTH) * radius_px))
    ring = (outer > 0) & (cv2.dilate(inside, _disc(RING_GAP * radius_px)) == 0)
    if not ring.any() or not inside.any():
        return 0.0, 0.0
    return float(np.percentile(grey[inside > 0], INSIDE_PERCENTILE)), float(np.median(grey[ring]))


def _score(grey: np.ndarray, contour: np.ndarray, darkest: float, threshold: float) -> float:
    """Roundness x solidity x contrast x depth (how far below the threshold the blob lies:
    a pupil well below, a shadow or noise barely), 0..1; 0 for a blob of implausible size
    or one touching the border (its true shape is unknown)."""
    height_px, width_px = grey.shape
    hull = cv2.convexHull(contour)
    hull_area = cv2.contourArea(hull)
    radius_px = np.sqrt(hull_area / np.pi)
    x, y, w, h = cv2.boundingRect(contour)
    if (not MIN_RADIUS_FRACTION * width_px <= radius_px <= MAX_RADIUS_FRACTION * width_px
            or x == 0 or y == 0 or x + w == width_px or y + h == height_px):
        return 0.0
    roundness = min(1.0, 4 * np.pi * hull_area / cv2.arcLength(hull, True) ** 2)
    solidity = min(1.0, cv2.contourArea(contour) / hull_area)
    inside, ring = _inside_and_ring(grey, hull, radius_px)
    contrast = np.clip((ring - inside) / FULL_CONTRAST_GREY, 0, 1)
    depth = np.clip((threshold - inside) / max(threshold - darkest, 1e-9), 0, 1)
    return float(roundness * solidity * contrast * depth)


def _centre_px(contour: np.ndarray) -> tuple[float, float, float]:
    """(x, y, radius) px of an ellipse fitted to the edge outside glint bites, else the
    blob's centroid. Edge pixels' centres lie half a pixel inside the true edge: + 0.5."""
    hull = cv2.convexHull(contour)
    points = contour.reshape(-1, 2).astype(np.float32)
    depth_px = np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True)
                         for x, y in points])
    edge = points[depth_px <= GLINT_BITE_PX]
    if len(edge) >= 5:
        (x, y), axes, _ = cv2.fitEllipse(edge)
        if np.isfinite([x, y, *axes]).all() and cv2.pointPolygonTest(hull, (x, y), False) > 0:
            return x, y, max(axes) / 2 + 0.5
    moments = cv2.moments(contour)
    area = max(moments["m00"], 1e-9)
    return moments["m10"] / area, moments["m01"] / area, float(np.sqrt(area / np.pi)) + 0.5


def find_pupil(image: np.ndarray) -> PupilFix | None:
    """The pupil in a uint8 grey (H, W) or BGR (H, W, 3) eye image, or None when none is
    visible (a closed eye, a blink, a blank frame). Never raises on the image's content;
    ValueError only for a wrong dtype or shape."""
    grey = _grey(image)
    if grey.size == 0:
        return None
    work = _work_image(grey)
    levels = _dark_levels(work)
    if levels is None:
        return None
    scored = [(_score(work, blob, *levels), blob) for blob in _dark_blobs(work, levels[1])]
    confidence, best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
    if best is None or confidence < MIN_CONFIDENCE:
        return None
    x_px, y_px, radius_px = _centre_px(best)
    height_px, width_px = work.shape
    return PupilFix((x_px + 0.5) / width_px, (y_px + 0.5) / height_px, radius_px / width_px,
                    confidence)
