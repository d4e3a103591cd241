"""The wizard's microphone, eye camera and avatar steps. Each takes its plan (texts and
settings from calibration/wizard.toml) and the session, talks through the session's UI,
and returns what it learnt as a `StepOutcome`; the runner saves it.

They measure with the same code as `liveface calibrate mic|eyes|avatar`, and save what
they settle where those parts do (the config file, the eye calibration) as well as in the
profile.
"""

import glob
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.errors import LivefaceError
from app.wizard.plan import StepPlan
from app.wizard.session import Session, StepOutcome

QUIET_ROOM_SNR_DB = 20.0  # the voice this far over the room: the room is quiet
LOUD_ROOM_SNR_DB = 10.0  # within this, loud (app.audio.mic_check's thresholds)


def eye_camera_present(session: Session) -> str | None:
    """The eye camera given (--eye-camera), else the first video device, else None."""
    if session.options.eye_camera:
        return session.options.eye_camera
    devices = sorted(glob.glob("/dev/video[0-9]*"))
    return devices[0].removeprefix("/dev/video") if devices else None


def applies(step: StepPlan, session: Session) -> bool:
    """Whether the step runs at all (its `when` condition)."""
    return step.when != "eye_camera" or eye_camera_present(session) is not None


# -- the microphone --------------------------------------------------------------------------
def run_mic(step: StepPlan, session: Session) -> StepOutcome:
    from app.audio.capture import MicrophoneSource
    from app.audio.devices import find_input_device
    from app.audio.mic_check import check_microphone

    device = find_input_device(session.microphone_query())
    quiet_s, speak_s = float(step.values["quiet_s"]), float(step.values["speak_s"])
    instructions = iter([step.text("quiet"), step.text("speak")])

    def prompt(_text: str) -> None:  # check_microphone asks for quiet, then for speech
        instruction = next(instructions)
        session.ui.prompt(instruction)
        if session.virtual_mic is not None and instruction == step.text("speak"):
            session.virtual_mic.play(_speech_to_play(session, speak_s))

    check = check_microphone(MicrophoneSource(session.clock, device.index), session.clock,
                             quiet_s, speak_s, prompt)
    figures = {**check.to_dict(), "device": device.name}
    session.room_dbfs, session.microphone = check.room_dbfs, device.name
    room = (step.text("room_quiet") if check.snr_db >= QUIET_ROOM_SNR_DB else
            step.text("room_moderate") if check.snr_db >= LOUD_ROOM_SNR_DB else
            step.text("room_loud"))
    text = step.text("result", room=room, **figures)
    text += "".join(f"\n  - {advice}" for advice in check.advice())
    virtual = session.virtual_mic is not None  # a stand-in: never the user's default
    return StepOutcome("done", text, "microphone", figures, figures=figures,
                       config=[] if virtual else [("audio", "device", device.name)])


def _speech_to_play(session: Session, seconds: float) -> np.ndarray:
    """The prepared takes, one after another, enough to fill `seconds` (unattended)."""
    audio = np.concatenate([take.audio for take in session.takes] or
                           [np.zeros(1, np.float32)])
    return audio[:round(seconds * SAMPLE_RATE_HZ)]


# -- the eye camera ----------------------------------------------------------------------------
def run_eyes(step: StepPlan, session: Session) -> StepOutcome:
    from app.calibrate_cli import calibrate_from
    from app.eyes.calibration import calibration_figures, load_schedule, save_profile

    camera = eye_camera_present(session)
    if camera.isdigit():  # a live camera needs the targets shown where the eyes can see them
        return StepOutcome("skipped", step.text("headset", camera=camera))
    schedule = load_schedule()
    session.ui.say(f"{len(schedule.targets_rad)} targets, {schedule.duration_s:g} s ...")
    calibration = calibrate_from(camera, schedule)
    figures = {"camera": camera, "targets": len(schedule.targets_rad),
               **calibration_figures(calibration)}
    text = step.text("result", **figures)
    if camera == "synthetic":  # a demo of the path, never saved over the user's own
        return StepOutcome("done", text + " (the synthetic eye: not saved)", figures=figures)
    if session.options.save:
        save_profile(calibration)  # where the live commands read it today
    return StepOutcome("done", text, "eyes", {**calibration.to_dict(), "camera": camera},
                       figures=figures)


# -- the avatar ----------------------------------------------------------------------------------
def run_avatar(step: StepPlan, session: Session) -> StepOutcome:
    from app.avatar.gltf import avatar_info, load_avatar
    from app.resources import default_avatar_path

    default = session.options.avatar or session.config.avatar.path or default_avatar_path()
    path = Path(session.ui.ask_text(step.text("ask"), str(default))).expanduser().resolve()
    try:
        info = avatar_info(load_avatar(path), path)
    except LivefaceError as err:
        return StepOutcome("failed", str(err))
    missing = info["missing_targets"]
    figures = {"avatar": str(path), "vertices": info["vertices"],
               "morph_targets": len(info["morph_targets"]), "missing_targets": missing}
    text = step.text("result", name=path.name, vertices=info["vertices"],
                     targets=len(info["morph_targets"]),
                     missing=f" (still: {' '.join(missing)})" if missing else "")
    return StepOutcome("done", text, "avatar", {"path": str(path), **figures},
                       figures=figures, config=[("avatar", "path", str(path))])
