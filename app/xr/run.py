"""Putting a headset run together: runtime first (so a missing one is the first and
clearest error), then the audio source and animator, the OpenGL context the session
shares, the renderer, the live pipeline and the session's frame loop; torn down in reverse.
"""

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.live.factory import (
    eye_stats,
    make_animator,
    make_control,
    make_eye_tracking,
    make_outputs,
    make_source,
    output_stats,
    start_control,
    start_eye_worker,
    start_outputs,
)
from app.mirror.app import is_software, mirror_stats
from app.outputs.vrchat import VRChatOptions

SOFTWARE_EYE_PIXELS = 480 * 480  # per eye on software OpenGL: llvmpipe cannot fill two
# full-size headset eyes at the headset's rate

if TYPE_CHECKING:
    from app.eyes.calibration import GazeCalibration


@dataclass(frozen=True, kw_only=True)
class XrRequest:
    audio: Path | None = None
    device: str | None = None
    model: Path | None = None
    stand_in: bool = False
    model_device: str = "auto"
    voice_profile: str | None = None  # the profile whose voice adapter the model uses
    avatar: Path | None = None
    duration_s: float | None = None
    screenshot: Path | None = None
    emotion: str = "neutral"
    intensity: float = 0.0
    mirror_distance_m: float = 1.0
    resolution_scale: float | None = None  # None: 1 on a GPU, less on software OpenGL
    graphics: str = "auto"  # how OpenGL meets the runtime: auto, egl, platform (GLX/WGL)
    eye_camera: str | None = None  # an eye camera's index, an eye video, or "synthetic"
    eye_profile: Path | None = None  # its calibration (None: the user's saved one)
    eye_calibration: "GazeCalibration | None" = None  # --profile's, when no eye_profile
    osc: str | None = None  # HOST:PORT for the frames as OSC (app/outputs/osc.py)
    vmc: str | None = None  # HOST:PORT for the blendshapes in the VMC protocol
    osc_control: str | None = None  # [HOST:]PORT to take emotion and mute from as OSC
    vrchat: VRChatOptions | None = None  # a VRChat avatar's parameters (app/outputs/vrchat.py)
    livelink: tuple[str, str] | None = None  # (HOST[:PORT], subject): app/outputs/livelink.py
    calibrate_eyes: bool = False  # show the eye-calibration targets first, then save the profile
    calibrate: object | None = None  # app.wizard.session.WizardOptions: the wizard on a panel
    prompt_screenshot: Path | None = None  # both eyes when the wizard's first prompt shows


def run_headset(request: XrRequest, clock) -> dict:
    """Run until the runtime ends the session or `duration_s` has passed; the run's figures."""
    from app.avatar.gltf import load_avatar
    from app.live.pipeline import LivePipeline
    from app.render.renderer import AvatarRenderer
    from app.resources import default_avatar_path
    from app.xr.app import XrApp, XrOptions
    from app.xr.runtime import connect, create_graphics

    runtime = connect(request.graphics)
    with ExitStack() as stack:
        stack.callback(lambda: app.close() if app is not None else runtime.close())
        app = None
        avatar = load_avatar(request.avatar or default_avatar_path())
        source = make_source(request.audio, request.device, clock)
        animator, animator_label = make_animator(request.model, request.stand_in,
                                                  request.model_device,
                                                  request.voice_profile)
        eyes = make_eye_tracking(request.eye_camera, request.eye_profile, clock,
                                 request.calibrate_eyes, request.eye_calibration)
        outputs = make_outputs(request.osc, request.vmc, request.vrchat, request.livelink)
        control = make_control(request.osc_control)
        graphics = create_graphics(runtime)
        stack.callback(graphics.close)
        ctx = graphics.ctx
        renderer = AvatarRenderer(ctx, avatar)
        stack.callback(renderer.release)
        scale = request.resolution_scale or _default_scale(ctx, runtime.eyes[0])
        output_worker = start_outputs(stack, outputs)
        pipeline = LivePipeline(source, animator, clock,
                                sinks=[output_worker.offer] if output_worker else ())
        pipeline.set_emotion(request.emotion, request.intensity)
        eye_worker = start_eye_worker(stack, eyes, pipeline, clock)
        start_control(stack, control, pipeline)
        panel_ui = _panel_ui(request.calibrate)
        options = XrOptions(request.duration_s, request.screenshot, request.mirror_distance_m,
                            resolution_scale=scale, runtime_gaze=eyes is None,
                            calibration=None if eyes is None else eyes.recording,
                            wizard=panel_ui, prompt_screenshot=request.prompt_screenshot)
        app = XrApp(graphics, runtime, renderer, pipeline, options, clock,
                    connect=lambda: connect(request.graphics))
        with pipeline:
            wizard = _start_wizard(request.calibrate, panel_ui, app)
            result = app.run()
        eye = runtime.eyes[0]
        extra = {"animator": animator_label, "runtime": runtime.runtime_name,
                 "system": runtime.system_name,
                 "graphics": "egl" if runtime.uses_egl else "platform",
                 "eye_size": [round(eye.width * scale), round(eye.height * scale)],
                 "eye_frames": result.eye_frames, "tracked_frames": result.tracked_frames,
                 "depth_frames": result.depth_frames,
                 "head_yaw_range_deg": result.head_yaw_range_deg,
                 "eye_tracker": runtime.eye_gaze, "gaze_frames": result.gaze_frames,
                 "reconnects": result.reconnects,
                 "gl_renderer": ctx.info.get("GL_RENDERER", ""),
                 "source": source.status.device_name,
                 "screenshot": str(result.screenshot) if result.screenshot else None,
                 "calibration_frames": result.calibration_frames,
                 "states": result.states, "eyes": eye_stats(eyes, eye_worker),
                 "outputs": output_stats(outputs, output_worker),
                 "control": None if control is None else control.to_dict(),
                 "panel": result.panel,
                 "wizard": None if wizard is None else wizard.outcome()}
        return mirror_stats(pipeline, result.frames, extra)


def _panel_ui(options):
    """What the wizard says, for the panel in the scene (None without --calibrate)."""
    if options is None:
        return None
    from app.wizard.panel_ui import PanelUI

    return PanelUI(auto=options.auto)


def _start_wizard(options, ui, app):
    """The setup wizard on its own thread; unattended, the run ends after its summary."""
    if options is None:
        return None
    from app.wizard.panel_ui import WizardThread

    thread = WizardThread(options, ui, app.end)
    thread.start()
    return thread


def _default_scale(ctx, eye) -> float:
    """1 on a GPU; on software OpenGL, small enough to keep each eye near
    `SOFTWARE_EYE_PIXELS`."""
    if not is_software(ctx):
        return 1.0
    return min(1.0, (SOFTWARE_EYE_PIXELS / (eye.width * eye.height)) ** 0.5)
