"""The headset front end's pure parts, without a runtime: poses and the virtual mirror,
the session's state table, and the command's answer when no OpenXR runtime exists."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.avatar.rig import HEAD_SLICE, neutral_rig
from app.render.renderer import head_matrix
from app.xr.poses import (Mirror, faced_head, gaze_angles, heading, pose_matrix,
                          quaternion_matrix, reflected_gaze, rig_head_angles, rotation_y)
from app.xr.states import Action, SessionStates, state_name

REPO = Path(__file__).resolve().parent.parent
BOUNDS = (np.array([-0.09, 1.45, -0.12]), np.array([0.09, 1.75, 0.1]))


def quaternion(axis, angle):
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    return (*(axis * math.sin(angle / 2.0)), math.cos(angle / 2.0))


def rotation_x(angle):
    return quaternion_matrix(*quaternion((1, 0, 0), angle))


def rotation_z(angle):
    return quaternion_matrix(*quaternion((0, 0, 1), angle))


# ---- poses -------------------------------------------------------------------------------

def test_quaternions_turn_the_way_openxr_means():
    np.testing.assert_allclose(quaternion_matrix(0, 0, 0, 1), np.eye(3))
    left = quaternion_matrix(*quaternion((0, 1, 0), math.pi / 2))  # turn left about +Y
    np.testing.assert_allclose(left @ (0, 0, -1), (-1, 0, 0), atol=1e-12)
    np.testing.assert_allclose(quaternion_matrix(0, 0, 0, 0), np.eye(3))  # not a rotation
    assert heading(left) == pytest.approx(math.pi / 2)


@pytest.mark.parametrize("pitch, yaw, roll", [(0.3, -0.5, 0.2), (-0.6, 1.0, -0.4), (0, 0, 0)])
def test_rig_head_angles_invert_the_renderers_head(pitch, yaw, roll):
    rig = neutral_rig()
    rig[HEAD_SLICE] = (pitch, yaw, roll)
    rotation = head_matrix(rig, np.zeros(3))[:3, :3]
    assert rig_head_angles(rotation) == pytest.approx((pitch, yaw, roll), abs=1e-6)  # float32 rig


def test_mirror_stands_ahead_at_eye_height_and_faces_the_user():
    for turn in (0.0, 0.7, -2.5):
        head = pose_matrix(quaternion((0, 1, 0), turn), (0.3, 1.6, -0.2))
        mirror = Mirror.in_front_of(head, BOUNDS, distance_m=1.2)
        centre = mirror.world_from_avatar @ np.r_[(BOUNDS[0] + BOUNDS[1]) / 2.0, 1.0]
        ahead = head[:3, :3] @ (0, 0, -1.2)
        np.testing.assert_allclose(centre[:3], head[:3, 3] + ahead, atol=1e-9)
        face = mirror.world_from_avatar[:3, :3] @ (0, 0, 1)  # the avatar looks down its +Z
        np.testing.assert_allclose(face, -ahead / 1.2, atol=1e-9)


def test_a_mirror_beside_a_call_s_peer_stands_to_the_right_and_faces_the_user():
    """`liveface call --headset --mirror side`: the peer ahead, the reflection turned 40
    degrees to the user's right about them, at its own distance, facing them."""
    head = pose_matrix(quaternion((0, 1, 0), 0.4), (0.3, 1.6, -0.2))
    side = Mirror.to_the_side(head, BOUNDS, distance_m=1.0)
    centre = side.world_from_avatar @ np.r_[(BOUNDS[0] + BOUNDS[1]) / 2.0, 1.0]
    to_centre = centre[:3] - head[:3, 3]
    assert np.linalg.norm(to_centre) == pytest.approx(1.0)
    in_head = head[:3, :3].T @ to_centre
    assert math.degrees(math.atan2(in_head[0], -in_head[2])) == pytest.approx(40.0)  # right
    face = side.world_from_avatar[:3, :3] @ (0, 0, 1)
    np.testing.assert_allclose(face, -to_centre, atol=1e-9)  # looking back at the user


def test_the_head_a_call_s_peer_sees_turns_and_nods_with_yours():
    """Your avatar faces the peer: turn to your left and it turns to its own left (rig yaw
    > 0), nod down and it nods down (as the rig's pitch means it), measured from where
    you faced when the scene was placed."""
    facing = rotation_y(0.8)
    left = facing @ rotation_y(0.3)
    assert faced_head(facing, left) == pytest.approx((0.0, 0.3, 0.0), abs=1e-9)
    down = facing @ rotation_x(-0.2)  # your forward (-Z) dips towards -Y
    pitch, yaw, roll = faced_head(facing, down)
    rig = neutral_rig()
    rig[HEAD_SLICE] = (pitch, yaw, roll)
    avatar_forward = head_matrix(rig, np.zeros(3))[:3, :3] @ (0, 0, 1)  # avatars look +Z
    assert avatar_forward[1] == pytest.approx(-math.sin(0.2)) and abs(yaw) < 1e-9


def test_the_reflection_nods_turns_and_tilts_like_a_mirror_image():
    mirror = Mirror.in_front_of(pose_matrix((0, 0, 0, 1), (0, 1.6, 0)), BOUNDS)
    # Nodding down (forward -Z tips towards -Y): the reflection nods down too.
    pitch, yaw, roll = mirror.reflected_head(rotation_x(-0.3))
    assert (pitch, yaw, roll) == pytest.approx((0.3, 0.0, 0.0), abs=1e-9)
    # Turning to one's left (towards -X): the reflection turns to the same side of the
    # room, which is its own right (negative yaw in the rig).
    assert mirror.reflected_head(rotation_y(0.4)) == pytest.approx((0.0, -0.4, 0.0), abs=1e-9)
    # Tilting the crown towards -X: the reflection's crown goes to -X, its own right.
    assert mirror.reflected_head(rotation_z(0.2)) == pytest.approx((0.0, 0.0, -0.2), abs=1e-9)


def test_reflection_is_measured_from_where_the_mirror_was_placed():
    turned = rotation_y(1.1)
    mirror = Mirror.in_front_of(pose_matrix(quaternion((0, 1, 0), 1.1), (0, 1.6, 0)), BOUNDS)
    assert mirror.reflected_head(turned) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)


class Fov:
    angle_left, angle_right, angle_up, angle_down = -0.8, 0.8, 0.8, -0.8


def test_each_eye_sees_the_avatar_in_the_middle_and_the_eyes_differ():
    head = pose_matrix((0, 0, 0, 1), (0.0, 1.6, 0.0))
    mirror = Mirror.in_front_of(head, BOUNDS)
    centre = (BOUNDS[0] + BOUNDS[1]) / 2.0
    seen = []
    for offset in (-0.032, 0.032):
        eye = pose_matrix((0, 0, 0, 1), (offset, 1.6, 0.0))
        view = mirror.view(eye, Fov(), (0, 0, 400, 400), None, True)
        seen.append(view.project(centre[None])[0])
    for x, y in seen:
        assert 180 < x < 220 and 190 < y < 210
    assert seen[0][0] - seen[1][0] > 5  # disparity: the left eye sees it further right


def test_gaze_angles_and_their_reflection():
    assert gaze_angles(np.array([0, 0, -1])) == pytest.approx((0, 0))
    yaw, pitch = gaze_angles(np.array([-1, 0, -1]))  # looking to one's left
    assert yaw == pytest.approx(math.pi / 4) and pitch == pytest.approx(0)
    assert gaze_angles(np.array([0, 1, -1]))[1] == pytest.approx(math.pi / 4)
    assert reflected_gaze(0.3, 0.1) == (-0.3, 0.1)


def test_calibration_targets_land_where_the_eye_looks():
    """A head-locked target in gaze direction (yaw, pitch) projects into each eye's image
    on that side; looking along it from the eye gives back its angles."""
    from types import SimpleNamespace

    from app.xr.poses import gaze_direction, target_pixel

    for yaw, pitch in ((0.3, -0.2), (-0.1, 0.25)):
        assert gaze_angles(gaze_direction(yaw, pitch)) == pytest.approx((yaw, pitch))
    fov = SimpleNamespace(angle_left=-0.8, angle_right=0.8, angle_up=0.8, angle_down=-0.8)
    head = pose_matrix((0.0, 0.3, 0.0, 1.0), (0.2, 1.6, -0.4))  # turned, moved
    left, right = head.copy(), head.copy()
    left[:3, 3] -= head[:3, 0] * 0.032
    right[:3, 3] += head[:3, 0] * 0.032
    size = (400, 300)
    straight = [target_pixel(head, eye, fov, size, 0.0, 0.0, 2.0) for eye in (left, right)]
    assert all(abs(x - 200) < 10 and abs(y - 150) < 1e-6 for x, y in straight)
    assert straight[0][0] > straight[1][0]  # disparity, as for anything 2 m ahead
    x, y = target_pixel(head, left, fov, size, 0.35, 0.25, 2.0)
    assert x < 200 - 50 and y > 150 + 30  # the user's left, up (GL's y grows upwards)
    assert target_pixel(head, left, fov, size, math.pi, 0.0, 2.0) is None  # behind


# ---- the session's states ----------------------------------------------------------------

def test_a_normal_session_walks_through_its_states():
    states = SessionStates()
    walk = ["idle", "ready", "synchronized", "visible", "focused", "stopping", "idle",
            "exiting"]
    actions = [states.enter(name) for name in walk]
    assert actions == [Action.NONE, Action.BEGIN, Action.NONE, Action.NONE, Action.NONE,
                       Action.END, Action.NONE, Action.EXIT]
    assert states.seen == walk


def test_loss_asks_for_a_new_session_and_shows_in_the_states():
    states = SessionStates()
    states.enter("focused")
    assert states.rendering
    assert states.enter("loss_pending") is Action.RECREATE
    assert not states.rendering
    assert states.lost() is Action.RECREATE
    assert states.seen == ["focused", "loss_pending", "lost"]


def test_state_names_from_enums_and_numbers():
    import xr

    assert state_name(xr.SessionState.FOCUSED) == "focused"
    assert state_name(5) == "focused"
    assert state_name(99) == "state_99"


# ---- no runtime --------------------------------------------------------------------------

@pytest.mark.parametrize("manifest", [None, "{ not json"])
def test_run_without_a_runtime_says_so_and_points_to_the_mirror(tmp_path, manifest):
    """No runtime installed, or a broken runtime manifest: a clear message, no traceback."""
    runtime_json = tmp_path / "active_runtime.json"
    if manifest is not None:
        runtime_json.write_text(manifest)
    env = dict(os.environ, XR_RUNTIME_JSON=str(runtime_json), HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CONFIG_DIRS=str(tmp_path / "etc"))
    stats = tmp_path / "x.json"
    done = subprocess.run([sys.executable, "-m", "app.cli", "run", "--duration", "2", "--stand-in",
                           "--stats-json", str(stats)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "no OpenXR runtime" in done.stderr and "liveface mirror" in done.stderr
    assert not stats.exists()
