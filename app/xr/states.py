"""The OpenXR session life cycle as the app follows it, without touching the runtime.

The runtime drives a session through IDLE -> READY -> SYNCHRONIZED -> VISIBLE -> FOCUSED
and back through STOPPING -> IDLE -> EXITING (or LOSS_PENDING when it goes away). The app
answers each change with at most one action: begin the session on READY, end it on
STOPPING, leave on EXITING, tear down and start again on LOSS_PENDING. Keeping that table
here, apart from the calls, lets tests walk every path without a runtime.
"""

from enum import Enum

# The spec's state names as lower-case words, in the order a normal run meets them.
STATE_NAMES = ("unknown", "idle", "ready", "synchronized", "visible", "focused", "stopping",
               "loss_pending", "exiting")
RENDERING_STATES = frozenset({"ready", "synchronized", "visible", "focused"})  # the frame loop
# runs from xrBeginSession on: the runtime synchronizes with the frames it receives
LOST = "lost"  # not a spec state: the runtime vanished (instance lost, service gone)


class Action(Enum):
    NONE = "none"
    BEGIN = "begin"  # xrBeginSession
    END = "end"  # xrEndSession
    EXIT = "exit"  # destroy the session and stop
    RECREATE = "recreate"  # destroy session and instance, then try to connect again


_ACTIONS = {"ready": Action.BEGIN, "stopping": Action.END, "exiting": Action.EXIT,
            "loss_pending": Action.RECREATE}


def state_name(state) -> str:
    """'focused' from xr.SessionState.FOCUSED (or from an int / a name)."""
    name = getattr(state, "name", state)
    if isinstance(name, int):
        return STATE_NAMES[name] if 0 <= name < len(STATE_NAMES) else f"state_{name}"
    return str(name).lower()


class SessionStates:
    """The states seen, in order (what `--stats-json` reports as `states`), and the
    action each new one asks for."""

    def __init__(self):
        self.seen: list[str] = []
        self.current = "unknown"

    def enter(self, state) -> Action:
        self.current = state_name(state)
        self.seen.append(self.current)
        return _ACTIONS.get(self.current, Action.NONE)

    def lost(self) -> Action:
        """The runtime went away without a LOSS_PENDING (a crash, a killed service)."""
        self.current = LOST
        self.seen.append(LOST)
        return Action.RECREATE

    @property
    def rendering(self) -> bool:
        return self.current in RENDERING_STATES
