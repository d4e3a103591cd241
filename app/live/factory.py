"""What every live front end (desktop mirror, headset) starts from: the audio source, the
animator and, when asked for, the eye camera and the streams to other programs, all
checked before any window or session opens so a missing file, device or model is a clear
error instead of a half-open app."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import LivefaceError, notice

if TYPE_CHECKING:
    from app.eyes.calibrate import CalibrationRecording
    from app.eyes.calibration import GazeCalibration
    from app.eyes.camera import EyeCamera

WARM_UP_BLOCKS = 3  # model steps run before the clock starts, so the first frames are not slow
# --model-device auto moves the model to CUDA (when present) only if a CPU step takes longer:
# a fifth of the 20 ms frame, leaving the rest of the core's time to audio and rendering
CPU_STEP_BUDGET_MS = 4.0


def make_source(audio: Path | None, device: str | None, clock):
    """`audio` played at real time as if it were the microphone, else the microphone named
    by `device`. With no `device` and no microphone at all, the app still starts: the avatar
    rests, the loss shows, and the default microphone is picked up when one appears."""
    if audio is not None:
        from app.audio.sources import FileSource

        return FileSource(audio, clock)
    from app.audio.capture import MicrophoneSource
    from app.audio.devices import NoInputDevice, find_input_device

    try:
        find_input_device(device)  # names the choices when the device is not there
    except NoInputDevice:
        if device is not None:
            raise
        notice("no microphone yet; the avatar rests until one is plugged in (or use "
               "--audio FILE).")
    return MicrophoneSource(clock, device, wait_for_device=device is None)


def make_animator(model: Path | None, stand_in: bool, device: str = "auto",
                  voice_profile: str | None = None):
    """(animator, label): the student bundle `model` (None: the shipped one) through
    `StreamingAnimator` on `device` (see `model_device`), with the voice adapter of profile
    `voice_profile` when it has one, or the loudness stand-in when asked for or when no
    model ships."""
    from app.live.animators import LoudnessAnimator

    if stand_in:
        return LoudnessAnimator(), "stand-in"
    from app.checkpoints import STUDENT_FILE
    from app.resources import asset_path

    path = model or asset_path("models", STUDENT_FILE)
    if model is None and not path.is_file():
        notice(f"no model at {path}; animating with the loudness stand-in.")
        return LoudnessAnimator(), "stand-in"
    animator, chosen, voice = _student(path, device, voice_profile)
    return animator, f"model:{path.name}@{chosen}" + (f" with {voice}" if voice else "")


def _student(path: Path, device: str, voice_profile: str | None):
    import torch

    from app.model.animator import StreamingAnimator

    torch.set_num_threads(1)  # one core for the model; the rest for rendering and audio
    cuda = torch.cuda.is_available()
    chosen = model_device(device, None, cuda)
    animator, voice = _load_student(path, chosen, voice_profile)
    step_ms = _warm_up(animator, chosen)
    if model_device(device, step_ms, cuda) != chosen:
        notice(f"the model takes {step_ms:.1f} ms a step on the CPU here; running it on CUDA.")
        chosen = "cuda"
        animator, voice = _load_student(path, chosen, voice_profile)
        _warm_up(animator, chosen)
    return _NoGrad(StreamingAnimator(animator, torch.zeros(1, device=chosen))), chosen, voice


def _load_student(path: Path, device: str, voice_profile: str | None):
    """The streaming animator on `device`, with the profile's voice adapter when there is
    one; and a label for the adapter (None without)."""
    from app.checkpoints import load_parts, streaming_animator
    from app.errors import LivefaceError
    from app.voice.voice_file import with_voice

    parts = load_parts(path, device)
    if not parts.config.causal:
        raise LivefaceError(f"{path} holds the offline baseline, which cannot stream; the "
                            "live commands take the student (or the teacher).")
    parts, voice = with_voice(parts, path, voice_profile, use=voice_profile is not None)
    return streaming_animator(parts).to(device), voice


def model_device(requested: str, cpu_step_ms: float | None, cuda_available: bool) -> str:
    """Where the model runs. auto: the CPU while its step (the warm-up steps' median, None
    before it is measured) fits CPU_STEP_BUDGET_MS, as it does at about 2 ms (a headset's
    GPU is busy rendering), else CUDA when present; cpu or cuda as asked."""
    if requested == "cuda" and not cuda_available:
        raise LivefaceError("--model-device cuda: torch sees no CUDA device (the CPU build of "
                            "torch, or no NVIDIA driver); use --model-device cpu or auto.")
    if requested != "auto":
        return requested
    slow = cpu_step_ms is not None and cpu_step_ms > CPU_STEP_BUDGET_MS
    return "cuda" if slow and cuda_available else "cpu"


def _warm_up(animator, device: str) -> float:
    """Run a few steps on a throwaway state (only the code warms up); their median in ms."""
    import statistics
    import time

    import torch

    from app.audio.contract import SAMPLES_PER_FRAME
    from app.model.animator import StreamingAnimator

    times_ms = []
    with torch.inference_mode():
        warm = StreamingAnimator(animator, torch.zeros(1, device=device))
        for _ in range(WARM_UP_BLOCKS):
            start = time.perf_counter()
            warm.push(torch.zeros(SAMPLES_PER_FRAME))
            times_ms.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times_ms)


class _NoGrad:
    """Runs the wrapped animator's `push` without autograd bookkeeping."""

    def __init__(self, animator):
        self.animator = animator

    @property
    def lookahead_frames(self) -> int:
        """Blocks the model hears past the face it gives (its face is block n - L's)."""
        return self.animator.lookahead_frames

    def push(self, block, emotion: int = 0, intensity: float = 0.0,
             gaze: tuple[float, float] | None = None):
        import torch

        with torch.inference_mode():
            return self.animator.push(block, emotion=emotion, intensity=intensity, gaze=gaze)


def make_outputs(osc: str | None, vmc: str | None, vrchat=None,
                 livelink: tuple[str, str] | None = None) -> list:
    """OSC senders for `--osc` / `--vmc` (each HOST:PORT) and `--vrchat` (a
    `VRChatOptions`), and the Live Link Face stream for `--livelink` ((HOST[:PORT],
    subject)), checked before anything opens."""
    from app.outputs.osc import OscSender

    outputs = [OscSender(endpoint, dialect)
               for endpoint, dialect in ((osc, "liveface"), (vmc, "vmc")) if endpoint]
    if vrchat is not None:
        from app.outputs.vrchat import VRChatSender

        outputs.append(VRChatSender(vrchat))
    if livelink is not None:
        from app.outputs.livelink import LiveLinkSender

        outputs.append(LiveLinkSender(*livelink))
    return outputs


def start_outputs(stack, outputs: list):
    """The output worker for `outputs` (None without any), stopped by `stack`, their
    sockets closed after it; its `offer` is the pipeline's frame sink. An output that
    listens for replies (`listener`) gets a reply worker of its own."""
    if not outputs:
        return None
    from app.live.output_worker import OutputWorker, ReplyWorker

    for output in outputs:
        stack.callback(output.close)
    worker = OutputWorker([output.send for output in outputs])
    worker.start()
    stack.callback(worker.stop)
    for listener in (getattr(output, "listener", None) for output in outputs):
        if listener is not None:
            replies = ReplyWorker(listener)
            replies.start()
            stack.callback(replies.stop)
    return worker


def make_control(endpoint: str | None):
    """The OSC control listener for `--osc-control` (its port taken now), or None."""
    if endpoint is None:
        return None
    from app.outputs.osc_control import OscControl

    return OscControl(endpoint)


def start_control(stack, control, pipeline):
    """Apply `control`'s messages to `pipeline` from now on, on the control worker's thread;
    stopped (and the port let go) by `stack`."""
    if control is None:
        return None
    from app.live.control_worker import ControlWorker

    control.pipeline = pipeline
    worker = ControlWorker(control)
    worker.start()
    stack.callback(worker.stop)
    return worker


def output_stats(outputs: list, worker) -> list[dict]:
    """Each output's figures; frames the worker dropped were dropped for all of them."""
    dropped = 0 if worker is None else worker.dropped
    return [{**output.to_dict(), "dropped": dropped} for output in outputs]


@dataclass
class EyeTracking:
    """An eye camera and what maps its pupil to gaze: a calibration, or a calibration run
    (`recording`) whose result is saved to `profile` (None: the user's default) unless
    `save` is off (the synthetic eye's calibration is a demo: it never replaces the user's
    profile unless a path is given)."""

    camera: "EyeCamera"
    calibration: "GazeCalibration | None"
    recording: "CalibrationRecording | None" = None
    profile: Path | None = None
    save: bool = True
    outcome: dict | None = None  # the calibration run's figures, once it has ended


def make_eye_tracking(camera: str | None, profile: Path | None, clock,
                      calibrate: bool = False,
                      calibration: "GazeCalibration | None" = None) -> EyeTracking | None:
    """The eye camera and its calibration, checked before any window opens; None without
    `camera`. With `calibrate`, a calibration run instead (the front end shows its
    targets). The synthetic eye is calibrated on the spot unless a profile is given (and
    follows the targets when calibrating); a real camera needs the user's calibration:
    the file `profile`, else `calibration` (a liveface profile's), else the saved one."""
    if camera is None:
        return None
    from app.eyes.calibrate import CalibrationRecording, synthetic_calibration
    from app.eyes.calibration import load_profile, load_schedule
    from app.eyes.camera import SyntheticEyeCamera, open_eye_camera

    synthetic = camera == "synthetic"
    if calibrate:
        recording = CalibrationRecording(load_schedule())
        eye_camera = (SyntheticEyeCamera(clock, recording.gaze_at) if synthetic
                      else open_eye_camera(camera, clock))
        return EyeTracking(eye_camera, None, recording, profile,
                           save=not synthetic or profile is not None)
    eye_camera = open_eye_camera(camera, clock)
    if synthetic and profile is None:
        return EyeTracking(eye_camera, synthetic_calibration())
    if calibration is not None and profile is None:
        return EyeTracking(eye_camera, calibration)
    return EyeTracking(eye_camera, load_profile(profile), profile=profile)


def start_eye_worker(stack, eyes: EyeTracking | None, pipeline, clock):
    """Start the eye worker feeding `pipeline` its gaze, mirrored for the reflection the
    user sees, and its blinks; stopped by `stack`. None without eye tracking."""
    if eyes is None:
        return None
    from app.live.eye_worker import EyeWorker
    from app.xr.poses import reflected_gaze

    def on_gaze(gaze):
        pipeline.set_gaze(None if gaze is None else reflected_gaze(*gaze))

    worker = EyeWorker(eyes.camera, eyes.calibration, on_gaze, clock,
                       recording=eyes.recording,
                       on_recorded=lambda recording: finish_calibration(eyes, recording),
                       on_eyelids=pipeline.set_eyelids)
    worker.start()
    stack.callback(worker.stop)
    return worker


def finish_calibration(eyes: EyeTracking, recording) -> "GazeCalibration | None":
    """The calibration a finished run gives (on the eye worker's thread): fitted, saved as
    the profile, and reported; None, with a notice, when the run saw too little (the model
    then keeps making the gaze up)."""
    from app.eyes.calibration import calibration_figures, describe_errors, save_profile

    try:
        calibration = recording.result()
        path = save_profile(calibration, eyes.profile) if eyes.save else None
    except LivefaceError as err:
        notice(f"eye calibration failed: {err}")
        eyes.outcome = {"error": str(err)}
        return None
    eyes.outcome = {"targets": len(recording.schedule.targets_rad),
                    **calibration_figures(calibration),
                    "profile": None if path is None else str(path)}
    where = f"saved to {path}" if path else "not saved (the synthetic eye; --eye-profile saves it)"
    notice(f"eye calibration: {calibration.targets_used} targets, "
           f"{describe_errors(calibration)}; {where}.")
    return calibration


def eye_stats(eyes: EyeTracking | None, worker) -> dict | None:
    if worker is None:
        return None
    outcome = eyes.outcome
    if outcome is None and eyes.recording is not None:
        outcome = {"error": "the run ended before all the calibration targets were shown"}
    return {**worker.stats.to_dict(), "calibration": outcome}
