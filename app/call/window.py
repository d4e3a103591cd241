"""A call in a desktop window (`liveface call --window`): the peer's avatar and yours side
by side, each framed as the mirror frames a head (app/mirror/orbit.py at rest), the peer on
the left; in a room (`--room`), everyone still in it from the left, you on the right. The
window's title says "reconnecting" while the peer (in a room: anyone) is gone.

As in the headset (app/call/headset.py), the call's network loop runs on a thread of its
own and the window's loop stays on the main thread, drawing each frame the peer's face last
sampled against their voice (`Call.last_shown`) and the face you last sent. Closing the
window hangs up; the call ending closes the window.
"""

from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import glfw
import numpy as np

from app.avatar.texture_controls import NUM_REGIONS, TextureControls
from app.errors import LivefaceError
from app.live.mailbox import REST

PANE_PX = (480, 540)  # each avatar's part of the window at its opening size
ROOM_PANES = 3  # a room's window opens this wide (two others and you); any number fit
WINDOW_FPS = 60.0
TITLE = "liveface call"
BACKGROUND = (0.08, 0.09, 0.11)


@dataclass(frozen=True)
class WindowCallOptions:
    screenshot: Path | None = None  # the window as last shown, at the end of the call


def run_call_in_window(request, options: WindowCallOptions, clock):
    """Hold the call (app/call/session.py) with a window showing it; its CallResult, with
    the window's figures under stats["window"]."""

    from app.avatar.gltf import load_avatar
    from app.call.headset import CallThread, PeerFace
    from app.call.session import prepare_call
    from app.mirror.orbit import OrbitCamera
    from app.mirror.window import MirrorWindow, WindowOptions
    from app.render.renderer import AvatarRenderer

    prepared = prepare_call(request, clock)
    with ExitStack() as stack:
        window = stack.enter_context(MirrorWindow(
            WindowOptions(2 * PANE_PX[0], PANE_PX[1], TITLE), OrbitCamera(), clock))
        ctx = _context()
        own = AvatarRenderer(ctx, load_avatar(prepared.own_avatar))
        stack.callback(own.release)
        peer = PeerFace(ctx, prepared)
        stack.callback(peer.release)
        ended = []
        held = CallThread(prepared.call, lambda: ended.append(True))
        held.start()
        call = prepared.call
        try:
            figures = _show(window, ctx, lambda: [(peer.renderer, *peer.face())],
                            own, call, call.peer_silent, ended, options, clock)
        finally:
            prepared.call.hang_up()
            held.finish()
    result = prepared.result()
    result.stats["window"] = figures
    return result


def run_room_in_window(request, options: WindowCallOptions, clock):
    """Be in a room (app/call/room.py) with a window showing everyone still in it, side by
    side, you on the right; its RoomResult, with the window's figures under
    stats["window"]."""

    from app.avatar.gltf import load_avatar
    from app.call.headset import CallThread
    from app.call.room import prepare_room
    from app.mirror.orbit import OrbitCamera
    from app.mirror.window import MirrorWindow, WindowOptions
    from app.render.renderer import AvatarRenderer

    room = prepare_room(request, clock)
    with ExitStack() as stack:
        window = stack.enter_context(MirrorWindow(
            WindowOptions(ROOM_PANES * PANE_PX[0], PANE_PX[1], TITLE), OrbitCamera(), clock))
        ctx = _context()
        own = AvatarRenderer(ctx, load_avatar(room.parts.own_avatar))
        stack.callback(own.release)
        others = ParticipantFaces(ctx, room)
        stack.callback(others.release)
        ended = []
        held = CallThread(room, lambda: ended.append(True))
        held.start()
        try:
            figures = _show(window, ctx, others.faces, own, room, room.anyone_silent, ended,
                            options, clock)
        finally:
            room.hang_up()
            held.finish()
    result = room.result()
    result.stats["window"] = figures
    return result


class ParticipantFaces:
    """Everyone still in the room, for the window: each with the avatar they chose (once
    this side knows it has the file; the shipped head until then) and their face now."""

    def __init__(self, ctx, room):
        self.ctx, self.room = ctx, room
        self.renderers: dict[str, tuple[Path, object]] = {}  # feed: (avatar file, renderer)

    def faces(self) -> list:
        from app.call.avatars import peer_avatar
        from app.resources import default_avatar_path

        drawn = []
        for peer in list(self.room.peers.values()):
            if peer.left:
                continue
            path = peer_avatar(peer.peer_choice, self.room.parts.known) or default_avatar_path()
            kept = self.renderers.get(peer.feed)
            if kept is None or kept[0] != path:
                if kept is not None:
                    kept[1].release()
                kept = self.renderers[peer.feed] = (path, self._renderer(path))
            shown = peer.last_shown
            if shown is None:
                drawn.append((kept[1], REST.rig, TextureControls(REST.wrinkle, REST.flush)))
            else:
                drawn.append((kept[1], shown.rig, TextureControls(shown.wrinkle, shown.flush)))
        return drawn

    def release(self) -> None:
        for _, renderer in self.renderers.values():
            renderer.release()

    def _renderer(self, path: Path):
        from app.avatar.gltf import load_avatar
        from app.render.renderer import AvatarRenderer

        return AvatarRenderer(self.ctx, load_avatar(path))


def _context():
    import moderngl

    try:
        return moderngl.create_context(require=330)
    except Exception as err:  # noqa: BLE001 - moderngl raises plain Exceptions
        raise LivefaceError(f"cannot use the window's OpenGL context ({err}); OpenGL 3.3 "
                            "is needed.") from None


def _show(window, ctx, others, own, call, silent, ended: list, options: WindowCallOptions,
          clock) -> dict:
    """The window's loop until it is closed or the call ends; the window's figures.
    `others()`: (renderer, rig, texture controls) of each one to draw left of you;
    `silent()`: whether to say "reconnecting"."""
    from app.mirror.app import (
        ResolutionGovernor,
        ScalingBlit,
        SceneTarget,
        render_scale,
    )
    from app.render.offscreen import save_png

    # on software OpenGL both avatars are drawn smaller and stretched, and the resolution
    # follows the frame rate, as in the mirror
    target = SceneTarget(ctx, 0, lambda size: render_scale(ctx, 0.0, size),
                         ScalingBlit(window.proc_address))
    governor = None
    bounds: dict[int, tuple] = {}  # each avatar's framing, worked out once (the peer's may change)

    def framing(avatar) -> tuple:
        return bounds.setdefault(id(avatar), avatar.frame_bounds())
    period_s = 1.0 / WINDOW_FPS
    frames = reconnecting_frames = 0
    title = TITLE
    started_s = clock.now_s()
    while True:
        window.poll()
        last = window.should_close or bool(ended)
        width, height = window.framebuffer_size()
        if width >= 2 and height >= 1:
            work_start_s = clock.now_s()
            if (width, height) != target.size:
                target.resize((width, height))
                governor = ResolutionGovernor(target.scale, max_scale=1.0)
            drawn = target.framebuffer
            drawn.use()
            drawn.clear(*BACKGROUND)
            faces = others()
            panes = len(faces) + 1
            for index, (renderer, rig, texture) in enumerate(faces):
                renderer.draw(rig, texture, [_pane(framing(renderer.avatar), index, panes,
                                                   target.render_size, drawn)])
            own_rig = call.own_rig
            own.draw(REST.rig if own_rig is None else own_rig,
                     TextureControls(np.zeros(NUM_REGIONS, np.float32),
                                     np.zeros(NUM_REGIONS, np.float32)),
                     [_pane(framing(own.avatar), panes - 1, panes, target.render_size, drawn)])
            target.present()
            frames += 1
            scale = governor.observe(clock.now_s() - work_start_s)
            if scale is not None:
                target.resize(target.size, scale)
        is_silent = silent()
        reconnecting_frames += is_silent
        wanted = f"{TITLE}: reconnecting" if is_silent else TITLE
        if wanted != title:
            glfw.set_window_title(window.handle, wanted)
            title = wanted
        if last:
            saved = None
            if options.screenshot is not None and width >= 2:
                data = target.screen.read(viewport=(0, 0, width, height), components=3,
                                          alignment=1)
                image = np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1]
                save_png(options.screenshot, image)
                saved = str(options.screenshot)
            window.swap()
            seconds = max(1e-6, clock.now_s() - started_s)
            return {"frames": frames, "fps": round(frames / seconds, 2),
                    "reconnecting_frames": reconnecting_frames, "size": [width, height],
                    "render_size": list(target.render_size), "screenshot": saved,
                    "closed_by_user": window.should_close}
        window.swap()
        clock.sleep_s(period_s)


def _pane(avatar_bounds: tuple, index: int, panes: int, size: tuple[int, int], framebuffer):
    """The view of one of `panes` side by side: the others from the left, you last."""
    from app.mirror.orbit import OrbitCamera

    width, height = size[0] // panes, size[1]
    view = OrbitCamera().view(avatar_bounds, width, height, framebuffer)
    return replace(view, viewport=(index * width, 0, width, height))
