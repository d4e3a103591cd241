"""Cameras as plain numpy matrices, and the `View` that tells the renderer where to draw.

Convention: 4x4 float32 matrices for column vectors, `clip = projection @ view @ point`,
exactly as written in the OpenGL and OpenXR specs. numpy stores them row-major while GLSL
reads `mat4` uniforms column-major, so the renderer uploads `matrix.T.tobytes()`
(`gl_matrix_bytes`); the shader then multiplies `u_view_proj * vec4(p, 1)` as written here.

Eye space looks down -Z with +Y up (OpenGL), and clip depth runs -1..1.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

DEFAULT_IPD_M = 0.063  # adult mean interpupillary distance
PORTRAIT_FOV_Y_RAD = np.radians(25.0)  # a long-ish lens flatters faces and limits distortion


def gl_matrix_bytes(matrix: np.ndarray) -> bytes:
    """Bytes of a column-vector matrix in the column-major order GLSL uniforms expect."""
    return np.ascontiguousarray(np.asarray(matrix, dtype=np.float32).T).tobytes()


def perspective(fov_y_rad: float, aspect: float, near: float, far: float) -> np.ndarray:
    """Symmetric perspective projection (gluPerspective)."""
    f = 1.0 / np.tan(fov_y_rad / 2.0)
    m = np.zeros((4, 4), np.float32)
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def fov_projection(
    angle_left: float, angle_right: float, angle_up: float, angle_down: float,
    near: float = 0.05, far: float = 100.0,
) -> np.ndarray:
    """Asymmetric frustum from OpenXR `XrFovf` angles (radians; left and down are
    usually negative), as headsets report them per eye."""
    left, right = np.tan(angle_left) * near, np.tan(angle_right) * near
    down, up = np.tan(angle_down) * near, np.tan(angle_up) * near
    m = np.zeros((4, 4), np.float32)
    m[0, 0] = 2.0 * near / (right - left)
    m[0, 2] = (right + left) / (right - left)
    m[1, 1] = 2.0 * near / (up - down)
    m[1, 2] = (up + down) / (up - down)
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def look_at(eye: Sequence[float], target: Sequence[float],
            up: Sequence[float] = (0.0, 1.0, 0.0)) -> np.ndarray:
    """View matrix of a camera at `eye` looking at `target` (gluLookAt)."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    side = np.cross(forward, up)
    side /= np.linalg.norm(side)
    true_up = np.cross(side, forward)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = side, true_up, -forward
    m[:3, 3] = -m[:3, :3] @ eye
    return m.astype(np.float32)


@dataclass(frozen=True)
class View:
    """One picture to draw: matrices, the pixel rectangle, and the target framebuffer.

    `framebuffer` is a moderngl Framebuffer (None means the context's current screen).
    `encode_srgb` is False when the target itself is an sRGB format that the GPU encodes
    (OpenXR sRGB swapchains); the shader then writes linear colour.
    """

    view: np.ndarray  # (4, 4) float32, world -> eye
    projection: np.ndarray  # (4, 4) float32, eye -> clip
    viewport: tuple[int, int, int, int]  # x, y, width, height in pixels (GL: y from bottom)
    framebuffer: Any = None
    encode_srgb: bool = True

    @property
    def eye_position(self) -> np.ndarray:
        """Camera position in world space, for specular and rim lighting."""
        return np.linalg.inv(self.view.astype(np.float64))[:3, 3].astype(np.float32)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (x right, y down from the top row) of world points (N, 3)."""
        points = np.atleast_2d(np.asarray(points, np.float64))
        homogeneous = np.c_[points, np.ones(len(points))]
        clip = homogeneous @ (self.projection.astype(np.float64) @ self.view).T
        ndc = clip[:, :3] / clip[:, 3:4]
        x0, y0, w, h = self.viewport
        px = x0 + (ndc[:, 0] + 1.0) * 0.5 * w
        py_gl = y0 + (ndc[:, 1] + 1.0) * 0.5 * h
        return np.c_[px, self._target_height() - py_gl]

    def _target_height(self) -> int:
        if self.framebuffer is not None:
            return int(self.framebuffer.size[1])
        return self.viewport[1] + self.viewport[3]


def portrait_view(
    avatar_bounds: tuple[np.ndarray, np.ndarray], width: int, height: int,
    framebuffer: Any = None, fov_y_rad: float = PORTRAIT_FOV_Y_RAD, margin: float = 1.15,
) -> View:
    """A head-on camera on the face's +Z side that fits the whole head into the picture."""
    low, high = (np.asarray(b, np.float64) for b in avatar_bounds)
    center = (low + high) / 2.0
    size = high - low
    aspect = width / height
    # Fit both the head's height and its width, whichever needs the camera further back.
    half_h = max(size[1], size[0] / aspect) * margin / 2.0
    distance = half_h / np.tan(fov_y_rad / 2.0) + size[2] / 2.0
    eye = center + np.array([0.0, 0.0, distance])
    # Generous depth range: close-ups framed on part of the head still see all of it.
    near, far = distance * 0.1, distance + max(size.max(), 0.3) * 3.0
    return View(look_at(eye, center), perspective(fov_y_rad, aspect, near, far),
                (0, 0, width, height), framebuffer)


def eye_offset_view(view: View, offset_x_m: float, **changes: Any) -> View:
    """`view` seen from a point moved `offset_x_m` along the camera's own right axis
    (parallel axes, no toe-in, as an HMD's two eyes are)."""
    shift = np.eye(4, dtype=np.float32)
    shift[0, 3] = -offset_x_m
    return replace(view, view=(shift @ view.view).astype(np.float32), **changes)


def stereo_views(
    center: View, ipd_m: float = DEFAULT_IPD_M, side_by_side: bool = False,
    framebuffers: tuple[Any, Any] | None = None,
) -> tuple[View, View]:
    """Left and right eye views around `center`, `ipd_m` apart.

    With `side_by_side` both draw into `center`'s framebuffer, left half then right half;
    with `framebuffers` each eye draws into its own target (an XR swapchain image each).
    """
    x, y, w, h = center.viewport
    if side_by_side:
        half = w // 2
        left_vp, right_vp = (x, y, half, h), (x + half, y, w - half, h)
        fbs = (center.framebuffer, center.framebuffer)
        aspect_fix = _aspect_scale(w / h, half / h)
        projection = (aspect_fix @ center.projection).astype(np.float32)
    else:
        left_vp = right_vp = center.viewport
        fbs = framebuffers or (center.framebuffer, center.framebuffer)
        projection = center.projection
    left = eye_offset_view(center, -ipd_m / 2.0, viewport=left_vp, framebuffer=fbs[0],
                           projection=projection)
    right = eye_offset_view(center, ipd_m / 2.0, viewport=right_vp, framebuffer=fbs[1],
                            projection=projection)
    return left, right


def _aspect_scale(old_aspect: float, new_aspect: float) -> np.ndarray:
    """Keeps the vertical field of view when a view is squeezed into a narrower viewport."""
    scale = np.eye(4, dtype=np.float32)
    scale[0, 0] = old_aspect / new_aspect
    return scale
