"""Eye gaze from XR_EXT_eye_gaze_interaction: a pose action bound to the eye tracker,
located in the head's own space each frame and turned into (yaw, pitch)."""

import xr

from app.xr.poses import gaze_angles, quaternion_matrix

PROFILE = "/interaction_profiles/ext/eye_gaze_interaction"
GAZE_POSE = "/user/eyes_ext/input/gaze_ext/pose"
_VALID = (xr.SpaceLocationFlags.ORIENTATION_VALID_BIT
          | xr.SpaceLocationFlags.ORIENTATION_TRACKED_BIT)


class EyeGaze:
    """Create before the session's action sets are attached (`action_set` is attached with
    the others, once per session), then `create_space()`."""

    def __init__(self, instance: xr.Instance, session: xr.Session):
        self.session = session
        self.action_set = xr.create_action_set(instance, xr.ActionSetCreateInfo(
            action_set_name="liveface", localized_action_set_name="liveface", priority=0))
        self.action = xr.create_action(self.action_set, xr.ActionCreateInfo(
            action_type=xr.ActionType.POSE_INPUT, action_name="eye_gaze",
            localized_action_name="Eye gaze"))
        binding = xr.ActionSuggestedBinding(self.action, xr.string_to_path(instance, GAZE_POSE))
        xr.suggest_interaction_profile_bindings(instance, xr.InteractionProfileSuggestedBinding(
            interaction_profile=xr.string_to_path(instance, PROFILE),
            suggested_bindings=[binding]))
        self.space = None

    def create_space(self) -> None:
        self.space = xr.create_action_space(self.session, xr.ActionSpaceCreateInfo(
            action=self.action, pose_in_action_space=xr.Posef()))

    def sample(self, head_space: xr.Space, time: int) -> tuple[float, float] | None:
        """The user's (yaw, pitch) relative to the head at `time`, or None when the
        tracker has nothing (eyes closed, tracking lost, the user declined permission)."""
        try:
            xr.sync_actions(self.session, xr.ActionsSyncInfo(
                active_action_sets=[xr.ActiveActionSet(self.action_set, xr.NULL_PATH)]))
        except xr.SessionNotFocused:  # input goes to the focused app only
            return None
        state = xr.get_action_state_pose(self.session, xr.ActionStateGetInfo(action=self.action))
        if not state.is_active:
            return None
        location = xr.locate_space(self.space, head_space, time)
        if location.location_flags & _VALID != _VALID:
            return None
        o = location.pose.orientation
        return gaze_angles(quaternion_matrix(o.x, o.y, o.z, o.w) @ (0.0, 0.0, -1.0))

    def close(self) -> None:
        for destroy, handle in ((xr.destroy_space, self.space),
                                (xr.destroy_action_set, self.action_set)):
            if handle is None:
                continue
            try:
                destroy(handle)
            except xr.XrException:
                pass
