"""Putting a mirror run together: the audio source, the animator, the window, the GL
context, the renderer, the overlay and the live pipeline, built in that order and torn
down in reverse.

Everything that can fail because of the user's input (a missing file, device or model) is
checked before the window opens; the audio starts last, right before the first frame, so
the picture and the (audible) file begin together.
"""

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import MirrorConfig
from app.errors import LivefaceError, notice
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
from app.mirror.app import MirrorApp, mirror_stats
from app.mirror.orbit import OrbitCamera
from app.outputs.vrchat import VRChatOptions

if TYPE_CHECKING:
    from app.eyes.calibration import GazeCalibration


@dataclass(frozen=True, kw_only=True)
class MirrorRequest:
    audio: Path | None = None  # a file played as if it were the microphone
    device: str | None = None  # else this microphone (None: the default one)
    model: Path | None = None  # a model bundle (None: the shipped student)
    stand_in: bool = False  # the loudness stand-in instead of any model
    model_device: str = "auto"  # where the model runs: auto, cpu or cuda
    voice_profile: str | None = None  # the profile whose voice adapter the model uses
    avatar: Path | None = None  # None: the shipped head
    duration_s: float | None = None
    screenshot: Path | None = None
    emotion: str = "neutral"
    intensity: float = 0.0
    eye_camera: str | None = None  # an eye camera's index, an eye video, or "synthetic"
    eye_profile: Path | None = None  # its calibration (None: the user's saved one)
    eye_calibration: "GazeCalibration | None" = None  # --profile's, when no eye_profile
    osc: str | None = None  # HOST:PORT for the frames as OSC (app/outputs/osc.py)
    vmc: str | None = None  # HOST:PORT for the blendshapes in the VMC protocol
    osc_control: str | None = None  # [HOST:]PORT to take emotion and mute from as OSC
    vrchat: VRChatOptions | None = None  # a VRChat avatar's parameters (app/outputs/vrchat.py)
    livelink: tuple[str, str] | None = None  # (HOST[:PORT], subject): app/outputs/livelink.py
    calibrate: object | None = None  # app.wizard.session.WizardOptions: the wizard in the overlay


def run_mirror(request: MirrorRequest, config: MirrorConfig, clock) -> dict:
    """Open the window, run until closed or `duration_s`, and return the run's figures."""
    from app.avatar.gltf import load_avatar
    from app.resources import default_avatar_path

    avatar = load_avatar(request.avatar or default_avatar_path())
    source = make_source(request.audio, request.device, clock)
    animator, animator_label = make_animator(request.model, request.stand_in,
                                              request.model_device, request.voice_profile)
    eyes = make_eye_tracking(request.eye_camera, request.eye_profile, clock,
                             calibration=request.eye_calibration)
    outputs = make_outputs(request.osc, request.vmc, request.vrchat, request.livelink)
    control = make_control(request.osc_control)
    with ExitStack() as stack:
        app, pipeline, output_worker = _open(stack, avatar, source, animator, outputs,
                                             request, config, clock)
        eye_worker = start_eye_worker(stack, eyes, pipeline, clock)
        start_control(stack, control, pipeline)
        wizard = _start_wizard(request.calibrate, app)
        result = app.run(request.duration_s, request.screenshot)
        extra = {"animator": animator_label, "size": list(app.target.size),
                 "render_scale": round(app.target.scale, 3),
                 "render_size": list(app.target.render_size),
                 "cpu_ms_per_frame": result.cpu_ms_per_frame,
                 "msaa_samples": app.samples, "overlay": app.overlay is not None,
                 "gl_renderer": app.ctx.info.get("GL_RENDERER", ""),
                 "source": source.status.device_name,
                 "screenshot": str(result.screenshot) if result.screenshot else None,
                 "eyes": eye_stats(eyes, eye_worker),
                 "outputs": output_stats(outputs, output_worker),
                 "control": None if control is None else control.to_dict(),
                 "wizard": None if wizard is None else wizard.outcome()}
        stats = mirror_stats(pipeline, result.frames, extra)
    return stats


def _open(stack: ExitStack, avatar, source, animator, outputs, request: MirrorRequest,
          config: MirrorConfig, clock):
    """Window, context, renderer, overlay, then the output worker, the pipeline and
    playback; each one's clean-up is registered on `stack` as soon as it exists."""
    import moderngl

    from app.live.pipeline import LivePipeline
    from app.mirror.window import MirrorWindow, WindowOptions
    from app.render.renderer import AvatarRenderer

    camera = OrbitCamera()
    window = stack.enter_context(MirrorWindow(WindowOptions(config.width, config.height),
                                              camera, clock))
    try:
        ctx = moderngl.create_context(require=330)
    except Exception as err:  # noqa: BLE001 - moderngl raises plain Exceptions
        raise LivefaceError(f"cannot use the window's OpenGL context ({err}); OpenGL 3.3 "
                            "is needed.") from None
    renderer = AvatarRenderer(ctx, avatar)
    stack.callback(renderer.release)
    overlay = _overlay(window, config)
    if overlay is not None:
        stack.callback(overlay.release)
        window.wants_input = overlay.wants_input
    output_worker = start_outputs(stack, outputs)
    pipeline = LivePipeline(source, animator, clock,
                            sinks=[output_worker.offer] if output_worker else ())
    pipeline.set_emotion(request.emotion, request.intensity)
    app = MirrorApp(ctx, window, renderer, pipeline, camera, overlay, config, clock)
    stack.enter_context(pipeline)
    if request.audio is not None:
        from app.mirror.playback import FilePlayback

        playback = FilePlayback(source.audio)
        playback.start()
        stack.callback(playback.stop)
    return app, pipeline, output_worker


def _start_wizard(options, app: MirrorApp):
    """The setup wizard on its own thread, shown in the overlay (None without --calibrate)."""
    if options is None:
        return None
    if app.overlay is None:
        raise LivefaceError("the setup wizard is shown in the overlay, which is off; run it "
                            "without --no-overlay, or in the terminal: `liveface calibrate`.")
    import glfw

    from app.wizard.overlay_ui import OverlayUI, WizardThread

    ui = OverlayUI(auto=options.auto)
    app.overlay.panel = ui
    thread = WizardThread(options, ui,
                          lambda: glfw.set_window_should_close(app.window.handle, True))
    thread.start()
    return thread


def _overlay(window, config: MirrorConfig):
    """The imgui overlay, or None (with a notice) when it is off or cannot run."""
    if not config.overlay:
        return None
    from app.mirror.window import imgui_bundle_installed, shares_glfw_with_overlay

    if not shares_glfw_with_overlay():
        if imgui_bundle_installed():
            notice("no overlay: glfw was imported before imgui-bundle, so they use two "
                   "different GLFW libraries.")
        else:
            notice("no overlay: imgui-bundle is not installed (pip install imgui-bundle).")
        return None
    from app.mirror.overlay import Overlay

    return Overlay(window.address)
