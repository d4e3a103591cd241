"""Poses and the virtual mirror, as plain numpy: no runtime needed.

OpenXR poses are right-handed, metres, +Y up, and a neutral head looks down -Z. A pose
(orientation quaternion x, y, z, w and a position) is a world-from-local matrix here; the
renderer's `View` wants eye-from-world, its inverse.

The mirror is placed once, from the first tracked head pose: `distance_m` ahead of the
user's eyes at their height, facing them. Standing in front of a mirror the user sees their
reflection, so the avatar copies the head pose and the gaze mirrored through the mirror's
plane: turn left and the reflection turns to the same side of the room; look up and it
looks up.
"""

import math
from dataclasses import dataclass

import numpy as np

from app.render.camera import View, fov_projection

NEAR_M, FAR_M = 0.05, 50.0
MIRROR_DISTANCE_M = 1.0
SIDE_ANGLE_RAD = math.radians(40.0)  # a mirror beside what stands ahead (a call's peer)
_FLIP_Z = np.diag([1.0, 1.0, -1.0])  # reflection through a mirror plane facing the user
_TURN_Y = np.diag([-1.0, 1.0, -1.0])  # half a turn about +Y: from your frame to one facing you


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3x3 rotation of a unit quaternion (renormalised; a zero one is the identity)."""
    q = np.array([x, y, z, w], np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-9:
        return np.eye(3)
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def pose_matrix(orientation, position) -> np.ndarray:
    """4x4 world-from-local of an OpenXR pose: orientation (x, y, z, w), position (x, y, z)."""
    m = np.eye(4)
    m[:3, :3] = quaternion_matrix(*orientation)
    m[:3, 3] = position
    return m


def rotation_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def heading(rotation: np.ndarray) -> float:
    """The yaw (about +Y) of where a head with this rotation looks, ignoring pitch and roll."""
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    return math.atan2(-forward[0], -forward[2])


def rig_head_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in the rig's convention (the renderer's head matrix is
    Ry(yaw) @ Rx(pitch) @ Rz(-roll)) of a rotation of the avatar's head."""
    pitch = math.asin(float(np.clip(-rotation[1, 2], -1.0, 1.0)))
    yaw = math.atan2(rotation[0, 2], rotation[2, 2])
    roll = -math.atan2(rotation[1, 0], rotation[1, 1])
    return pitch, yaw, roll


def gaze_angles(direction: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) of a gaze direction in head space: yaw > 0 towards the head's left
    (-X), pitch > 0 up."""
    d = np.asarray(direction, np.float64)
    d = d / max(np.linalg.norm(d), 1e-9)
    return math.atan2(-d[0], -d[2]), math.asin(float(np.clip(d[1], -1.0, 1.0)))


@dataclass(frozen=True)
class Mirror:
    """Where the avatar stands: world-from-avatar, and the frame the reflection is taken in."""

    world_from_avatar: np.ndarray  # 4x4
    facing: np.ndarray  # 3x3: the user's heading when the mirror was placed

    @classmethod
    def in_front_of(cls, head_pose: np.ndarray, avatar_bounds, distance_m: float = MIRROR_DISTANCE_M
                    ) -> "Mirror":
        """The avatar's head centred `distance_m` ahead of `head_pose` (4x4), at the user's
        eye height, facing back at them. The avatar's face looks down its own +Z, so turning
        it by the user's heading makes it face the user, who looks down -Z."""
        facing = rotation_y(heading(head_pose[:3, :3]))
        low, high = (np.asarray(b, np.float64) for b in avatar_bounds)
        centre = (low + high) / 2.0
        target = head_pose[:3, 3] + facing @ np.array([0.0, 0.0, -distance_m])
        m = np.eye(4)
        m[:3, :3] = facing
        m[:3, 3] = target - facing @ centre
        return cls(m, facing)

    @classmethod
    def to_the_side(cls, head_pose: np.ndarray, avatar_bounds, distance_m: float,
                    angle_rad: float = SIDE_ANGLE_RAD) -> "Mirror":
        """Like `in_front_of`, turned `angle_rad` to the user's right (left when negative)
        about them: out of the way of what stands ahead, still facing them."""
        turned = head_pose.copy()
        turned[:3, :3] = rotation_y(-angle_rad) @ head_pose[:3, :3]
        return cls.in_front_of(turned, avatar_bounds, distance_m)

    def reflected_head(self, head_rotation: np.ndarray) -> tuple[float, float, float]:
        """Rig (pitch, yaw, roll) of the reflection of a head with this world rotation."""
        relative = self.facing.T @ head_rotation
        return rig_head_angles(_FLIP_Z @ relative @ _FLIP_Z)

    def view(self, eye_pose: np.ndarray, fov, viewport, framebuffer, encode_srgb: bool) -> View:
        """The renderer's view of the avatar from one eye: eye pose (4x4 world-from-eye)
        and XrFovf-like angles (angle_left, angle_right, angle_up, angle_down)."""
        eye_from_avatar = np.linalg.inv(eye_pose) @ self.world_from_avatar
        projection = fov_projection(fov.angle_left, fov.angle_right, fov.angle_up,
                                    fov.angle_down, NEAR_M, FAR_M)
        return View(eye_from_avatar.astype(np.float32), projection, viewport, framebuffer,
                    encode_srgb)


def faced_head(facing: np.ndarray, head_rotation: np.ndarray) -> tuple[float, float, float]:
    """Rig (pitch, yaw, roll) of your head for an avatar that faces whoever faces you (a
    call's peer): your head's rotation from `facing` (3x3, your heading when the scene was
    placed), seen from the front. Turn to your left and the avatar turns to its own left;
    nod down and it nods down."""
    relative = facing.T @ head_rotation
    return rig_head_angles(_TURN_Y @ relative @ _TURN_Y)


def reflected_gaze(yaw: float, pitch: float) -> tuple[float, float]:
    """The reflection's gaze in rig signs (yaw > 0 towards the avatar's own left) from the
    user's gaze (yaw > 0 towards the user's left): the reflection looks to the same side of
    the room, which is its own right."""
    return -yaw, pitch


def gaze_direction(yaw: float, pitch: float) -> np.ndarray:
    """Head-space unit vector of a gaze (yaw > 0 towards the head's left, pitch > 0 up);
    the inverse of `gaze_angles`."""
    return np.array([-math.sin(yaw) * math.cos(pitch), math.sin(pitch),
                     -math.cos(yaw) * math.cos(pitch)])


def target_pixel(head_pose: np.ndarray, eye_pose: np.ndarray, fov, size: tuple[int, int],
                 yaw: float, pitch: float, distance_m: float) -> tuple[float, float] | None:
    """Where in one eye's image (pixels, origin bottom left as GL has it) a head-locked
    target `distance_m` away in gaze direction (yaw, pitch) appears; None when it is
    behind the eye."""
    point = head_pose @ np.append(distance_m * gaze_direction(yaw, pitch), 1.0)
    in_eye = np.linalg.inv(eye_pose) @ point
    clip = fov_projection(fov.angle_left, fov.angle_right, fov.angle_up, fov.angle_down,
                          NEAR_M, FAR_M) @ in_eye
    if clip[3] <= 1e-6:
        return None
    ndc_x, ndc_y = clip[0] / clip[3], clip[1] / clip[3]
    return (ndc_x + 1.0) / 2.0 * size[0], (ndc_y + 1.0) / 2.0 * size[1]
