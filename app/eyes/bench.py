"""The eye benchmark behind `liveface bench eyes`: what tracking one eye-camera frame
costs on this machine (the eye worker's thread pays it at the camera's rate).

Frames of the synthetic eye looking about, at two camera resolutions; each frame is
tracked once after a warm-up. Figures, never assertions.
"""

import time

import numpy as np

from app.eyes.pupil import find_pupil
from app.eyes.synthetic import render_eye
from app.machine import cpu_description

SIZES_PX = ((160, 120), (640, 480))  # a headset's eye camera; a webcam-class one
WARM_UP_FRAMES = 10


def _gazes(frames: int) -> np.ndarray:
    t = np.arange(frames) / frames * 2 * np.pi
    return np.stack([0.4 * np.sin(t), 0.3 * np.sin(2 * t)], axis=1)


def bench_eyes(frames: int = 300) -> dict:
    figures: dict = {"device": cpu_description(), "frames": frames}
    for width_px, height_px in SIZES_PX:
        images = [render_eye(yaw, pitch, width_px=width_px, height_px=height_px, seed=i)
                  for i, (yaw, pitch) in enumerate(_gazes(frames))]
        for image in images[:WARM_UP_FRAMES]:
            find_pupil(image)
        times_ms, found = [], 0
        for image in images:
            start = time.perf_counter()
            found += find_pupil(image) is not None
            times_ms.append((time.perf_counter() - start) * 1000.0)
        figures[f"pupil_{width_px}x{height_px}_ms"] = {
            "p50": round(float(np.percentile(times_ms, 50)), 3),
            "p99": round(float(np.percentile(times_ms, 99)), 3)}
        figures[f"found_{width_px}x{height_px}"] = found
    return figures
