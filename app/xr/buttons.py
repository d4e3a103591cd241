"""The controllers' buttons that answer the setup wizard in the headset: `select` (the
trigger, or A) takes the highlighted choice and `next` (the menu button, or B) moves the
highlight. Bound for the controllers most runtimes offer; a runtime without controllers
(Monado's simulated HMD) simply leaves them inactive, and the wizard is answered by voice.
"""

import xr

ACTIONS = ("select", "next")
BINDINGS = {  # interaction profile: {action: [input paths]}
    "/interaction_profiles/khr/simple_controller": {
        "select": ["/user/hand/left/input/select/click", "/user/hand/right/input/select/click"],
        "next": ["/user/hand/left/input/menu/click", "/user/hand/right/input/menu/click"]},
    "/interaction_profiles/oculus/touch_controller": {
        "select": ["/user/hand/right/input/a/click", "/user/hand/left/input/x/click",
                   "/user/hand/right/input/trigger/value"],
        "next": ["/user/hand/right/input/b/click", "/user/hand/left/input/y/click"]},
    "/interaction_profiles/valve/index_controller": {
        "select": ["/user/hand/right/input/a/click", "/user/hand/left/input/a/click",
                   "/user/hand/right/input/trigger/click"],
        "next": ["/user/hand/right/input/b/click", "/user/hand/left/input/b/click"]},
}


class WizardButtons:
    """Create before the session's action sets are attached (`action_set` is attached
    with the others); `pressed()` each frame."""

    def __init__(self, instance: xr.Instance, session: xr.Session):
        self.session = session
        self.action_set = xr.create_action_set(instance, xr.ActionSetCreateInfo(
            action_set_name="liveface_wizard", localized_action_set_name="liveface wizard",
            priority=0))
        self.actions = {name: xr.create_action(self.action_set, xr.ActionCreateInfo(
            action_type=xr.ActionType.BOOLEAN_INPUT, action_name=name,
            localized_action_name=name)) for name in ACTIONS}
        for profile, inputs in BINDINGS.items():
            bindings = [xr.ActionSuggestedBinding(self.actions[name],
                                                  xr.string_to_path(instance, path))
                        for name, paths in inputs.items() for path in paths]
            try:
                xr.suggest_interaction_profile_bindings(
                    instance, xr.InteractionProfileSuggestedBinding(
                        interaction_profile=xr.string_to_path(instance, profile),
                        suggested_bindings=bindings))
            except xr.PathUnsupportedError:
                pass  # a runtime that does not know this controller

    def pressed(self) -> list[str]:
        """The actions pressed down since the last call (input goes to the focused app)."""
        try:
            xr.sync_actions(self.session, xr.ActionsSyncInfo(
                active_action_sets=[xr.ActiveActionSet(self.action_set, xr.NULL_PATH)]))
        except xr.SessionNotFocused:
            return []
        pressed = []
        for name, action in self.actions.items():
            state = xr.get_action_state_boolean(self.session,
                                                xr.ActionStateGetInfo(action=action))
            if state.is_active and state.changed_since_last_sync and state.current_state:
                pressed.append(name)
        return pressed

    def close(self) -> None:
        try:
            xr.destroy_action_set(self.action_set)
        except xr.XrException:
            pass
