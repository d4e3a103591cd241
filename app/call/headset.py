"""A call in the headset (`liveface call --headset`): the peer's avatar across from you at
conversational distance, facing you, their head pose applied, and your own reflection
beside them (`--mirror side`) or none (`--mirror off`), through the same OpenXR frame loop
as `liveface run` (app/xr/app.py).

Your tracked head goes with your faces, so the peer sees you turn and nod. The call's
network loop runs on a thread of its own (asyncio, as in a headless call); the
frame loop stays on the main thread and draws, each frame, the peer's face last sampled
against their voice's playout clock (`Call.last_shown`) and the face you last sent. The
call ending ends the session; the session ending (Ctrl+C, the runtime) hangs up.
"""

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.avatar.texture_controls import NUM_REGIONS, TextureControls
from app.errors import notice
from app.live.mailbox import REST, DisplayFrame
from app.wizard.panel_ui import PanelState

PEER_DISTANCE_M = 1.2  # across a small table
HANG_UP_WAIT_S = 15.0
RECONNECTING_PANEL = PanelState(
    heading="Reconnecting", lines=("Nothing has come from the other side for a moment.",
                                   "Their face rests until they are back."), version=1)


@dataclass(frozen=True)
class HeadsetOptions:
    mirror: str = "side"  # your reflection: "side" (beside the peer) or "off"
    screenshot: Path | None = None  # both eyes at the end of the call
    speaking_screenshot: Path | None = None  # both eyes when the peer's mouth was widest open
    graphics: str = "auto"
    resolution_scale: float | None = None


class PeerFace:
    """The peer for the frame loop: their avatar (the one they chose, once this side knows
    it has that file; the shipped head until then) and their face as shown now."""

    distance_m = PEER_DISTANCE_M

    def __init__(self, ctx, prepared):
        from app.resources import default_avatar_path

        self.ctx, self.prepared = ctx, prepared
        self.path = default_avatar_path()
        self.renderer = self._renderer(self.path)

    def face(self) -> tuple[np.ndarray, TextureControls]:
        self._switch_avatar()
        shown = self.prepared.call.last_shown
        if shown is None:
            return REST.rig, TextureControls(REST.wrinkle, REST.flush)
        return shown.rig, TextureControls(shown.wrinkle, shown.flush)

    def status(self) -> "PanelState | None":
        """What the panel in the scene says about the call: "reconnecting" while nothing
        has come from the peer for a while (None: nothing to say)."""
        if not self.prepared.call.peer_silent():
            return None
        return RECONNECTING_PANEL

    def tell_head(self, head: tuple[float, float, float]) -> None:
        """Sent with your next faces, in place of the model's head motion."""
        self.prepared.call.sender.head = tuple(float(angle) for angle in head)

    def release(self) -> None:
        self.renderer.release()

    def _switch_avatar(self) -> None:
        chosen = self.prepared.peer_avatar()
        if chosen is not None and chosen != self.path:
            self.renderer.release()
            self.path, self.renderer = chosen, self._renderer(chosen)

    def _renderer(self, path: Path):
        from app.avatar.gltf import load_avatar
        from app.render.renderer import AvatarRenderer

        return AvatarRenderer(self.ctx, load_avatar(path))


class OwnFace:
    """Your reflection's face: the one your side last sent (what the peer sees)."""

    def __init__(self, call):
        self.call = call

    def sample(self, display_s: float) -> DisplayFrame:
        rig = self.call.own_rig
        if rig is None:
            return REST
        zeros = np.zeros(NUM_REGIONS, np.float32)
        return DisplayFrame(rig, zeros, zeros, -1, 1.0, 0.0)

    def set_gaze(self, gaze) -> None:
        """A headset's eye tracker: not sent in a call yet."""


def run_call_in_headset(request, headset: HeadsetOptions, clock):
    """Hold the call (app/call/session.py) with the session showing it; its CallResult,
    with the headset's figures under stats["headset"]."""
    from contextlib import ExitStack

    from app.avatar.gltf import load_avatar
    from app.call.session import prepare_call
    from app.render.renderer import AvatarRenderer
    from app.xr.app import XrApp, XrOptions
    from app.xr.run import _default_scale
    from app.xr.runtime import connect, create_graphics

    runtime = connect(headset.graphics)  # no headset: said before the call is offered
    prepared = prepare_call(request, clock)
    with ExitStack() as stack:
        stack.callback(lambda: app.close() if app is not None else runtime.close())
        app = None
        graphics = create_graphics(runtime)
        stack.callback(graphics.close)
        own = AvatarRenderer(graphics.ctx, load_avatar(prepared.own_avatar))
        stack.callback(own.release)
        peer = PeerFace(graphics.ctx, prepared)
        stack.callback(peer.release)
        scale = headset.resolution_scale or _default_scale(graphics.ctx, runtime.eyes[0])
        options = XrOptions(screenshot=headset.screenshot, resolution_scale=scale,
                            mirror=headset.mirror, peer=peer,
                            peer_open_screenshot=headset.speaking_screenshot)
        app = XrApp(graphics, runtime, own, OwnFace(prepared.call), options, clock,
                    connect=lambda: connect(headset.graphics))
        held = CallThread(prepared.call, app.end)
        held.start()
        shown = app.run()
        prepared.call.hang_up()
        held.finish()
        eye = runtime.eyes[0]
        figures = {"states": shown.states, "eye_frames": shown.eye_frames,
                   "eye_size": [round(eye.width * scale), round(eye.height * scale)],
                   "frames": shown.frames.frames, "peer": shown.peer,
                   "runtime": runtime.runtime_name,
                   "screenshot": str(shown.screenshot) if shown.screenshot else None}
    result = prepared.result()
    result.stats["headset"] = figures
    return result


class CallThread(threading.Thread):
    """The call's asyncio loop beside the frame loop; `finish()` raises what ended it."""

    def __init__(self, call, ended):
        super().__init__(name="liveface-call", daemon=True)
        self.call, self.ended = call, ended
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.call.run())
        except BaseException as err:  # noqa: BLE001 - raised on the main thread by finish()
            self.error = err
        self.ended()

    def finish(self) -> None:
        self.join(HANG_UP_WAIT_S)
        if self.is_alive():
            notice(f"the call did not hang up within {HANG_UP_WAIT_S:g} s; leaving anyway.")
        if self.error is not None:
            raise self.error
