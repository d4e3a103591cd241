"""The mirror's camera: a portrait framing of the head that the mouse orbits and zooms.

At rest (yaw = pitch = 0, zoom = 1) it is exactly `portrait_view`: the camera on the
face's +Z side, the whole head in the picture, the avatar facing the user. Dragging turns
the camera around the head's centre; scrolling moves it closer or further.
"""

from dataclasses import dataclass

import numpy as np

from app.render.camera import PORTRAIT_FOV_Y_RAD, View, look_at, perspective, portrait_view

DRAG_RAD_PER_PIXEL = 0.008
ZOOM_PER_SCROLL_STEP = 0.9  # one wheel notch moves the camera to 90 % of its distance
MIN_ZOOM, MAX_ZOOM = 0.3, 4.0
MAX_PITCH_RAD = np.radians(80.0)  # never over the top, where "up" flips


@dataclass
class OrbitCamera:
    yaw_rad: float = 0.0  # > 0 moves the camera towards the avatar's left (+X)
    pitch_rad: float = 0.0  # > 0 moves the camera up, looking down at the face
    zoom: float = 1.0  # camera distance as a fraction of the portrait distance

    def drag(self, dx_px: float, dy_px: float) -> None:
        """Mouse moved by (dx, dy) pixels with the button held (y grows downwards)."""
        self.yaw_rad -= dx_px * DRAG_RAD_PER_PIXEL
        self.pitch_rad = float(np.clip(self.pitch_rad + dy_px * DRAG_RAD_PER_PIXEL,
                                       -MAX_PITCH_RAD, MAX_PITCH_RAD))

    def scroll(self, steps: float) -> None:
        """Wheel up (steps > 0) zooms in."""
        self.zoom = float(np.clip(self.zoom * ZOOM_PER_SCROLL_STEP ** steps, MIN_ZOOM, MAX_ZOOM))

    def reset(self) -> None:
        self.yaw_rad, self.pitch_rad, self.zoom = 0.0, 0.0, 1.0

    def view(self, avatar_bounds: tuple[np.ndarray, np.ndarray], width: int, height: int,
             framebuffer=None) -> View:
        """The camera for a `width` x `height` picture of a head with these bounds."""
        portrait = portrait_view(avatar_bounds, width, height, framebuffer)
        low, high = (np.asarray(b, np.float64) for b in avatar_bounds)
        center = (low + high) / 2.0
        offset = (portrait.eye_position - center) * self.zoom
        eye = center + self._rotation() @ offset
        distance = float(np.linalg.norm(offset))
        size = float(np.max(high - low))
        near = max(distance - size, distance * 0.1, 1e-3)
        far = distance + max(size, 0.3) * 3.0
        return View(look_at(eye, center), perspective(PORTRAIT_FOV_Y_RAD, width / height, near, far),
                    (0, 0, width, height), framebuffer)

    def _rotation(self) -> np.ndarray:
        """Yaw about +Y after pitch about the camera's right axis (+X at rest)."""
        cy, sy = np.cos(self.yaw_rad), np.sin(self.yaw_rad)
        cp, sp = np.cos(self.pitch_rad), np.sin(self.pitch_rad)
        yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])  # +Z towards +Y
        return yaw @ pitch
