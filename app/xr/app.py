"""The headset's frame loop: follow the session's states, and in every frame the runtime
asks for, draw the avatar into both eyes' swapchain images and submit them.

    xrPollEvent  -> state changes: begin on READY, end on STOPPING, leave on EXITING,
                    tear down and reconnect on LOSS_PENDING or a lost runtime
    xrWaitFrame  -> paced by the runtime (the headset's refresh rate)
    xrBeginFrame -> sample the live pipeline (never waits for the model), locate the eyes,
                    render the virtual mirror into each eye
    xrEndFrame   -> one projection layer with both eyes

`--duration` ends a run the polite way (xrRequestExitSession, then the runtime walks the
session through STOPPING and EXITING), so a clean exit shows in the states.
"""

import contextlib
import ctypes
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import xr

from app.avatar.rig import HEAD_SLICE, RIG_INDEX
from app.avatar.texture_controls import TextureControls
from app.errors import notice
from app.eyes.calibrate import CalibrationRecording
from app.live.pipeline import LivePipeline
from app.mirror.app import FrameCounter
from app.render.offscreen import save_png
from app.render.renderer import AvatarRenderer
from app.xr.poses import (FAR_M, MIRROR_DISTANCE_M, NEAR_M, Mirror, faced_head,
                          reflected_gaze, target_pixel)
from app.xr.runtime import Graphics, RuntimeAbsent, XrRuntime, loader_messages_hidden
from app.xr.session import XrSession
from app.wizard.panel_ui import PanelUI, SpokenAnswer
from app.xr.panel import PANEL_SIZE_M, ScenePanel
from app.xr.states import Action, SessionStates
from app.xr.swapchain import GL_FRAMEBUFFER_SRGB

# What a runtime that went away looks like from here (a killed service, an unplugged
# headset); the app then reconnects instead of crashing.
LOSS_ERRORS = (xr.InstanceLostError, xr.SessionLostError, xr.RuntimeFailureError,
               xr.RuntimeUnavailableError, xr.HandleInvalidError)
IDLE_SLEEP_S = 0.01  # between event polls while no frames are wanted
EXIT_GRACE_S = 3.0  # how long an exit request may take before the app leaves anyway
RECONNECT_EVERY_S = 0.5
TARGET_DISTANCE_M = 2.0  # eye-calibration targets float this far ahead, head-locked
TARGET_HALF_WIDTH_FRACTION = 0.012  # of the eye image's width: the target's white square
TARGET_CORE_FRACTION = 0.35  # its dark centre, of the square: where to look
PROMPT_SETTLE_FRAMES = 3  # the wizard's first prompt, kept as a still after this many frames


@dataclass
class XrOptions:
    duration_s: float | None = None
    screenshot: Path | None = None  # both eyes side by side, from the last frame
    mirror_distance_m: float = MIRROR_DISTANCE_M
    background: tuple[float, float, float] = (0.16, 0.17, 0.2)
    resolution_scale: float = 1.0  # of the runtime's recommended eye size
    runtime_gaze: bool = True  # the runtime's eye tracker drives the gaze (off: an eye camera does)
    calibration: CalibrationRecording | None = None  # eye-camera targets to show first
    wizard: PanelUI | None = None  # the setup wizard, shown on a panel in the scene
    prompt_screenshot: Path | None = None  # both eyes when the wizard's first prompt shows
    mirror: str = "front"  # your reflection: ahead ("front"), beside the peer ("side"), "off"
    peer: "PeerInScene | None" = None  # another avatar across from you (a call's peer)
    peer_open_screenshot: Path | None = None  # both eyes when the peer's mouth opened widest


class PeerInScene(Protocol):
    """Another person's avatar, standing `distance_m` across from you and facing you, their
    own head pose applied (not reflected: they face you)."""

    distance_m: float

    @property
    def renderer(self) -> AvatarRenderer: ...

    def face(self) -> tuple[np.ndarray, TextureControls]:
        """Their rig and texture controls to show now (never waits)."""

    def tell_head(self, head: tuple[float, float, float]) -> None:
        """Your tracked head (rig pitch, yaw, roll, as seen from the front), for them."""


@dataclass
class XrResult:
    frames: FrameCounter
    states: list[str]
    eye_frames: list[int] = field(default_factory=list)
    tracked_frames: int = 0
    depth_frames: int = 0
    gaze_frames: int = 0
    head_yaw_range_deg: tuple[float, float] | None = None
    reconnects: int = 0
    screenshot: Path | None = None
    calibration_frames: int = 0
    panel: dict | None = None  # frames with the wizard's panel, and with a prompt on it
    peer: dict | None = None  # frames with the peer drawn, their jawOpen as drawn


class XrApp:
    def __init__(self, graphics: Graphics, runtime: XrRuntime, renderer: AvatarRenderer,
                 pipeline: LivePipeline, options: XrOptions, clock,
                 connect: Callable[[], XrRuntime]):
        self.graphics, self.ctx, self.runtime = graphics, graphics.ctx, runtime
        self.renderer, self.pipeline, self.options, self.clock = renderer, pipeline, options, clock
        self.connect = connect  # a new runtime instance after a loss
        self.states = SessionStates()
        self.counter = FrameCounter()
        self.session: XrSession | None = None
        self.mirror: Mirror | None = None
        self.bounds = renderer.avatar.frame_bounds()
        self.eye_frames = [0, 0]
        self.tracked_frames = 0
        self.depth_frames = 0  # frames submitted with depth for both eyes
        self.gaze_frames = 0  # frames with a measured gaze
        self.calibration_frames = 0  # frames showing an eye-calibration target
        self.calibration = options.calibration  # None once all its targets were shown
        self.yaw_range_rad: tuple[float, float] | None = None  # reflected head, whole run
        self.reconnects = 0
        self.saved: Path | None = None
        self._start_s = 0.0
        self._exit_requested_s: float | None = None  # when xrRequestExitSession was sent
        self._next_try_s = 0.0  # the next reconnection attempt after a loss
        self._stop = False  # Ctrl+C: leave as at the end of --duration
        self._keep_alive = None  # the last submitted layer, until xrEndFrame has read it
        self.wizard = options.wizard
        self.panel = ScenePanel(self.ctx) if self.wizard is not None else None
        self.spoken = SpokenAnswer()
        self.peer = options.peer
        self.peer_place: Mirror | None = None  # where the peer stands, placed with the mirror
        self.peer_panel: ScenePanel | None = None  # "reconnecting", made when first needed
        self.peer_panel_frames = 0
        self.peer_jaw: list[float] = []  # the peer's jawOpen in each frame drawn
        self._peer_open_saved = -1.0

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> XrResult:
        """Until the runtime ends the session, `duration_s` passes or Ctrl+C; the last two
        leave through a clean exit request (a second Ctrl+C leaves at once)."""
        self._start_s = self.clock.now_s()
        with _first_ctrl_c_stops(self._request_stop):
            while self._step():
                pass
        self._close_session()
        panel = None if self.panel is None else {
            "frames": self.panel.frames, "prompt_frames": self.panel.prompt_frames,
            "distance_m": self.panel.distance_m, "size_m": list(PANEL_SIZE_M)}
        return XrResult(self.counter, list(self.states.seen), list(self.eye_frames),
                        self.tracked_frames, self.depth_frames, self.gaze_frames,
                        self._yaw_range(), self.reconnects, self.saved,
                        self.calibration_frames, panel, self._peer_figures())

    def _request_stop(self) -> None:
        notice("stopping: asking the runtime to end the session (Ctrl+C again to quit now).")
        self._stop = True

    def _peer_figures(self) -> dict | None:
        if self.peer is None:
            return None
        jaw = np.asarray(self.peer_jaw or [0.0])
        return {"frames": len(self.peer_jaw), "distance_m": self.peer.distance_m,
                "mirror": self.options.mirror, "reconnecting_frames": self.peer_panel_frames,
                "jaw_open": {"p10": round(float(np.percentile(jaw, 10)), 3),
                             "p90": round(float(np.percentile(jaw, 90)), 3),
                             "max": round(float(jaw.max()), 3)}}

    def end(self) -> None:
        """Leave as at the end of --duration (any thread: the loop reads the flag)."""
        self._stop = True

    def _step(self) -> bool:
        """One pass of the loop: events, then a frame or a short sleep. False: leave."""
        now_s = self.clock.now_s()
        over = self._stop or (self.options.duration_s is not None
                              and now_s - self._start_s >= self.options.duration_s)
        if self.runtime is None:  # lost: keep trying until it is back or time is up
            if over:
                return False
            if now_s >= self._next_try_s:
                self._next_try_s = now_s + RECONNECT_EVERY_S
                self._reconnect()
            self.clock.sleep_s(IDLE_SLEEP_S)
            return True
        try:
            if self.session is None:
                self.session = XrSession(self.runtime, self.graphics,
                                         self.options.resolution_scale,
                                         buttons=self.wizard is not None)
                self.mirror = None
            action = self._poll_events()
            if action is Action.EXIT:
                return False
            if action is Action.RECREATE:
                notice("the OpenXR runtime is going away; reconnecting when it returns.")
                self._drop_runtime()
                return True
            if over and self._exit_requested_s is None:
                self._exit_requested_s = now_s
                if not self.session.running:
                    return False
                self.session.request_exit()
            elif (self._exit_requested_s is not None
                  and now_s - self._exit_requested_s > EXIT_GRACE_S):
                return False
            if self.session.running and self.states.rendering:
                self._frame(last=self._exit_requested_s is not None)
            else:
                self.clock.sleep_s(IDLE_SLEEP_S)
        except LOSS_ERRORS as err:
            notice(f"lost the OpenXR runtime ({type(err).__name__}); the avatar keeps "
                   "listening and the headset view returns when the runtime does.")
            self.states.lost()
            self._drop_runtime()
        return True

    def close(self) -> None:
        self._drop_runtime()
        for panel in (self.panel, self.peer_panel):
            if panel is not None:
                panel.release()
        self.panel = self.peer_panel = None

    def _poll_events(self) -> Action:
        """Handle every queued event; the strongest action wins (exit, then recreate)."""
        result = Action.NONE
        while True:
            try:
                event = xr.poll_event(self.runtime.instance)
            except xr.EventUnavailable:
                return result
            kind = xr.StructureType(event.type)
            if kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                self.states.seen.append("instance_loss_pending")
                result = Action.RECREATE if result is not Action.EXIT else result
            elif kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                changed = ctypes.cast(ctypes.byref(event),
                                      ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                action = self.states.enter(xr.SessionState(changed.state))
                if self.states.current == "focused":
                    notice(f"in the headset ({self.runtime.runtime_name}): session focused.")
                if action is Action.BEGIN:
                    self.session.begin()
                elif action is Action.END:
                    self.session.end()
                elif action is Action.EXIT:
                    result = Action.EXIT
                elif action is Action.RECREATE and result is not Action.EXIT:
                    result = Action.RECREATE

    # -- one frame --------------------------------------------------------------------------
    def _frame(self, last: bool) -> None:
        handle = self.session.handle
        frame_state = xr.wait_frame(handle, xr.FrameWaitInfo())
        xr.begin_frame(handle, xr.FrameBeginInfo())
        layers = []
        if frame_state.should_render:
            layer = self._render(frame_state.predicted_display_time, last)
            if layer is not None:
                self._keep_alive = layer
                layers = [ctypes.byref(layer[0])]
        xr.end_frame(handle, xr.FrameEndInfo(
            display_time=frame_state.predicted_display_time,
            environment_blend_mode=self.runtime.blend_mode, layers=layers))
        self.counter.tick(self.clock.now_s())

    def _render(self, time_xr: int, last: bool):
        session = self.session
        eyes = session.eye_views(time_xr)
        if eyes is None:
            return None  # not tracked: submit nothing rather than a wrong picture
        head = session.head_pose(time_xr)
        if head is None:
            head = eyes[0][0].copy()
            head[:3, 3] = (eyes[0][0][:3, 3] + eyes[1][0][:3, 3]) / 2.0
        if self.mirror is None:
            self._place(head)
        self.tracked_frames += 1
        if session.gaze is not None and self.options.runtime_gaze:
            gaze = session.gaze.sample(session.head, time_xr)
            self.pipeline.set_gaze(None if gaze is None else reflected_gaze(*gaze))
            self.gaze_frames += gaze is not None
        shown = self.pipeline.sample(self.clock.now_s())
        rig = np.array(shown.rig, np.float32)
        rig[HEAD_SLICE] = self.mirror.reflected_head(head[:3, :3])
        yaw = float(rig[HEAD_SLICE][1])
        low, high = self.yaw_range_rad or (yaw, yaw)
        self.yaw_range_rad = (min(low, yaw), max(high, yaw))
        framebuffers = [swapchain.acquire() for swapchain in session.swapchains]
        views = self._views(self.mirror, eyes, framebuffers)
        srgb = all(swapchain.srgb for swapchain in session.swapchains)
        if srgb:
            self.ctx.enable_direct(GL_FRAMEBUFFER_SRGB)
        try:
            background = self.options.background
            if self.options.mirror != "off":
                self.renderer.draw(rig, TextureControls(shown.wrinkle, shown.flush), views,
                                   background=background)
                background = None  # cleared once, by whoever draws first
            self._draw_peer(head, eyes, framebuffers, background)
            self._wizard_panel(head, views)
            self._peer_status(head, views)
        finally:
            if srgb:
                self.ctx.disable_direct(GL_FRAMEBUFFER_SRGB)
        self._calibration_target(head, eyes, framebuffers)
        self._keep_peer_open(framebuffers)
        self._keep_prompt(framebuffers)
        if last and self.options.screenshot is not None and self.saved is None:
            self.saved = save_eyes(framebuffers, self.options.screenshot)
        for index, swapchain in enumerate(session.swapchains):
            swapchain.release()
            self.eye_frames[index] += 1
        depth_infos = [_depth_info(swapchain) for swapchain in session.swapchains]
        projection_views = [xr.CompositionLayerProjectionView(
            pose=raw_pose, fov=fov, sub_image=swapchain.sub_image(),
            next=None if depth is None else ctypes.cast(ctypes.pointer(depth), ctypes.c_void_p))
            for (_, fov, raw_pose), swapchain, depth in zip(eyes, session.swapchains, depth_infos)]
        self.depth_frames += all(depth is not None for depth in depth_infos)
        layer = xr.CompositionLayerProjection(space=session.world, views=projection_views)
        return layer, projection_views, depth_infos

    def _place(self, head: np.ndarray) -> None:
        """The mirror, and the peer across from you, from the first tracked head pose."""
        distance_m = self.options.mirror_distance_m
        if self.options.mirror == "side":
            self.mirror = Mirror.to_the_side(head, self.bounds, distance_m)
        else:
            self.mirror = Mirror.in_front_of(head, self.bounds, distance_m)
        if self.peer is not None:
            self.peer_place = Mirror.in_front_of(head, self.peer.renderer.avatar.frame_bounds(),
                                                 self.peer.distance_m)

    def _views(self, place: Mirror, eyes, framebuffers) -> list:
        return [place.view(pose, fov, (0, 0, *swapchain.size), framebuffer,
                           encode_srgb=not swapchain.srgb)
                for (pose, fov, _), swapchain, framebuffer
                in zip(eyes, self.session.swapchains, framebuffers)]

    def _draw_peer(self, head, eyes, framebuffers, background) -> None:
        if self.peer is None:
            return
        self.peer.tell_head(faced_head(self.mirror.facing, head[:3, :3]))
        rig, texture = self.peer.face()
        self.peer.renderer.draw(rig, texture, self._views(self.peer_place, eyes, framebuffers),
                                background=background)
        self.peer_jaw.append(float(rig[RIG_INDEX["jawOpen"]]))

    def _peer_status(self, head, views) -> None:
        """A panel in the scene while the call has lost the peer ("reconnecting")."""
        state = None if self.peer is None else self.peer.status()
        if state is None:
            return
        if self.peer_panel is None:
            self.peer_panel = ScenePanel(self.ctx)
        self.peer_panel.show(state)
        self.peer_panel.follow(head)
        for view in views:
            self.peer_panel.draw(view)
        self.peer_panel_frames += 1

    def _keep_peer_open(self, framebuffers) -> None:
        """Both eyes again whenever the peer's mouth is open wider than in any earlier
        frame kept: a still of them speaking."""
        path = self.options.peer_open_screenshot
        if path is None or not self.peer_jaw or self.peer_jaw[-1] < self._peer_open_saved + 0.02:
            return
        save_eyes(framebuffers, path)
        self._peer_open_saved = self.peer_jaw[-1]

    def _keep_prompt(self, framebuffers) -> None:
        """Both eyes once, the first time the panel has shown a prompt for a few frames."""
        path = self.options.prompt_screenshot
        if path is None or self.panel is None or self.panel.prompt_frames != PROMPT_SETTLE_FRAMES:
            return
        save_eyes(framebuffers, path)

    def _wizard_panel(self, head, views) -> None:
        """The wizard's panel in the scene, answered by the controller's buttons or a
        word spoken after the question."""
        if self.panel is None:
            return
        state = self.wizard.snapshot()
        buttons = self.session.buttons
        for pressed in buttons.pressed() if buttons is not None else ():
            if pressed == "next":
                self.wizard.highlight_next()
            else:
                self.wizard.answer_highlighted()
        level_dbfs = self.pipeline.status.source.level_dbfs
        if self.spoken.feed(self.clock.now_s(), level_dbfs, bool(state.choices)):
            self.wizard.answer_highlighted()
        self.panel.show(state)
        self.panel.follow(head)
        for view in views:
            self.panel.draw(view)

    def _calibration_target(self, head, eyes, framebuffers) -> None:
        """While the eye calibration runs, its current target over both eyes' pictures;
        after the last one, the run is ended (the eye worker fits and saves it)."""
        recording = self.calibration
        if recording is None:
            return
        target = recording.target_to_show(self.clock.now_s())
        if target is None:
            recording.end()
            self.calibration = None
            return
        self.calibration_frames += 1
        for (pose, fov, _), framebuffer in zip(eyes, framebuffers):
            centre = target_pixel(head, pose, fov, framebuffer.size, *target, TARGET_DISTANCE_M)
            if centre is not None:
                _draw_target(framebuffer, centre)

    # -- loss and reconnection -------------------------------------------------------------
    def _drop_runtime(self) -> None:
        self._close_session()
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None

    def _reconnect(self) -> None:
        """One quiet try: the loader and runtime would print each failed attempt."""
        try:
            with loader_messages_hidden():
                self.runtime = self.connect()
        except (RuntimeAbsent, xr.XrException):
            return
        self.reconnects += 1
        notice(f"reconnected to {self.runtime.runtime_name}.")

    def _close_session(self) -> None:
        if self.session is not None:
            if self.session.running:
                try:
                    self.session.end()
                except xr.XrException:
                    pass
            self.session.close()
            self.session = None
        self._keep_alive = None

    def _yaw_range(self) -> tuple[float, float] | None:
        if self.yaw_range_rad is None:
            return None
        return tuple(round(float(np.degrees(a)), 2) for a in self.yaw_range_rad)


@contextlib.contextmanager
def _first_ctrl_c_stops(stop: Callable[[], None]):
    """The first SIGINT calls `stop` (a flag the loop reads between frames, so no swapchain
    image is left acquired); the next one interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum, _frame):
        signal.signal(signal.SIGINT, previous)
        stop()

    previous = signal.signal(signal.SIGINT, handler)
    # Restart the system call the signal lands in: the runtime's client library may be
    # blocked in a read from its service, and an EINTR there reads as a lost instance.
    signal.siginterrupt(signal.SIGINT, False)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _depth_info(swapchain) -> "xr.CompositionLayerDepthInfoKHR | None":
    """What the compositor needs to read the eye's depth image back into metres."""
    sub_image = swapchain.depth_sub_image()
    if sub_image is None:
        return None
    return xr.CompositionLayerDepthInfoKHR(sub_image=sub_image, min_depth=0.0, max_depth=1.0,
                                           near_z=NEAR_M, far_z=FAR_M)


def _draw_target(framebuffer, centre: tuple[float, float]) -> None:
    """A white square with a dark centre at `centre` (pixels), colour only: the depth the
    compositor reprojects with stays the scene's."""
    half_px = TARGET_HALF_WIDTH_FRACTION * framebuffer.size[0]
    framebuffer.depth_mask = False
    try:
        for size_px, grey in ((half_px, 1.0), (half_px * TARGET_CORE_FRACTION, 0.0)):
            side_px = max(1, round(2 * size_px))
            framebuffer.clear(grey, grey, grey, 1.0, viewport=(
                round(centre[0] - size_px), round(centre[1] - size_px), side_px, side_px))
    finally:
        framebuffer.depth_mask = True


def save_eyes(framebuffers, path: Path) -> Path:
    """Both eyes' images side by side (left, right) as one PNG."""
    pictures = []
    for framebuffer in framebuffers:
        width, height = framebuffer.size
        data = framebuffer.read(components=3, alignment=1)
        pictures.append(np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1])
    height = max(picture.shape[0] for picture in pictures)
    sheet = np.zeros((height, sum(picture.shape[1] for picture in pictures), 3), np.uint8)
    x = 0
    for picture in pictures:
        sheet[:picture.shape[0], x:x + picture.shape[1]] = picture
        x += picture.shape[1]
    save_png(path, sheet)
    return path
