"""`liveface calibrate`: set up the microphone, the eye camera and the avatar, one part at
a time; what each part settles is saved where the live commands find it. With no part, the
wizard (`app.wizard`) runs every part in turn and saves them in a profile.

    liveface calibrate [--profile NAME]             # the wizard: step by step
    liveface calibrate --auto --takes DIR           # ... unattended, the takes played

    liveface calibrate mic [--device NAME]          # levels, clipping, advice; saves the device
    liveface calibrate eyes --camera eye.mkv        # a recording made following the targets
    liveface calibrate eyes --camera synthetic      # the synthetic eye (a demo, 16 s)
    liveface calibrate avatar --avatar me.glb       # checks the avatar; saves it as the default
    liveface calibrate voice --takes DIR            # fits the model to your voice (recorded
                                                    # takes, each with a .txt of its words)

Eye targets (calibration/eye_targets.toml) are looked at in order, each for 1.5 s, from a
recording's first frame. A live eye camera is calibrated in the headset, which shows the
targets: `liveface run --eye-camera 0 --calibrate-eyes`.
"""

import argparse
import json
import sys
from pathlib import Path

from app.cli_args import positive_seconds
from app.errors import LivefaceError
from app.voice.enrol_cli import add_voice_part
from app.wizard.cli import add_wizard_arguments, run_wizard_command


def add_calibrate_command(subparsers) -> None:
    calibrate = subparsers.add_parser(
        "calibrate", help="set up the microphone, your voice, the eye camera and the avatar")
    add_wizard_arguments(calibrate)
    parts = calibrate.add_subparsers(dest="calibrate_part", metavar="PART",
                                     help="one part alone (none: the wizard, every part)")

    mic = parts.add_parser("mic", help="measure the microphone (room, voice, clipping), advise, "
                                       "and save it as the default")
    mic.add_argument("--device", help="input device by index or (part of its) name "
                                      "(default: the configured one, else the system's)")
    mic.add_argument("--quiet", type=positive_seconds, default=2.0,
                     help="seconds of quiet to measure the room (default 2)")
    mic.add_argument("--speak", type=positive_seconds, default=5.0,
                     help="seconds of speech to measure the voice (default 5)")
    mic.add_argument("--no-save", action="store_true", help="measure only")

    eyes = parts.add_parser("eyes", help="fit pupil position -> gaze from a run through the "
                                         "calibration targets, and save it as a profile")
    eyes.add_argument("--camera", required=True,
                      help="an eye video recorded while following the targets from its first "
                           "frame, or `synthetic`")
    eyes.add_argument("--targets", type=Path,
                      help="a target schedule TOML (default: calibration/eye_targets.toml)")
    eyes.add_argument("--profile", type=Path,
                      help="where to save the profile (default: the user's config folder)")

    avatar = parts.add_parser("avatar", help="check an avatar and make it the default")
    avatar.add_argument("--avatar", type=Path, required=True,
                        help="a glTF avatar with ARKit morph targets")
    avatar.add_argument("--no-save", action="store_true", help="check only")
    voice = add_voice_part(parts)
    for part in (mic, eyes, avatar, voice):
        part.add_argument("--json", action="store_true", help="print the result as JSON")


def run_calibrate_command(args: argparse.Namespace, config) -> None:
    if args.calibrate_part is None:
        return run_wizard_command(args, config)
    part = {"mic": _mic, "eyes": _eyes, "avatar": _avatar, "voice": _voice}[args.calibrate_part]
    result, text = part(args, config)
    print(json.dumps(result, indent=2) if args.json else text)


def _saved(section: str, key: str, value: str, args: argparse.Namespace) -> str | None:
    """Write the setting into the config file (--config, else the user's); its path."""
    if args.no_save:
        return None
    from app.config import save_user_setting

    return str(save_user_setting(section, key, value, args.config))


def _mic(args: argparse.Namespace, config) -> tuple[dict, str]:
    from app.audio.capture import MicrophoneSource
    from app.audio.devices import find_input_device
    from app.audio.mic_check import check_microphone, describe
    from app.live.clock import MonotonicClock

    device = find_input_device(args.device or config.audio.device or None)
    clock = MonotonicClock()
    prompt = (lambda text: print(text, file=sys.stderr)) if args.json else print
    check = check_microphone(MicrophoneSource(clock, device.index), clock, args.quiet,
                             args.speak, prompt)
    result = {**check.to_dict(), "device": device.name,
              "saved_to": _saved("audio", "device", device.name, args)}
    text = describe(check)
    if result["saved_to"]:
        text += f"\nsaved as the default microphone in {result['saved_to']}"
    return result, text


def _voice(args: argparse.Namespace, config) -> tuple[dict, str]:
    from app.voice.enrol_cli import run_voice

    log = (lambda text: print(text, file=sys.stderr)) if args.json else print
    return run_voice(args, config, log)


def _eyes(args: argparse.Namespace, config) -> tuple[dict, str]:
    from app.eyes.calibration import (
        calibration_figures,
        describe_errors,
        load_schedule,
        save_profile,
    )

    schedule = load_schedule(args.targets)
    calibration = calibrate_from(args.camera, schedule)
    demo = args.camera == "synthetic" and args.profile is None  # never over the user's own
    path = None if demo else save_profile(calibration, args.profile)
    result = {"profile": None if path is None else str(path),
              "targets": len(schedule.targets_rad), **calibration_figures(calibration)}
    where = "not saved (the synthetic eye; --profile saves it)" if demo else f"saved to {path}"
    text = (f"eye calibration: {result['targets_used']} of {result['targets']} targets, "
            f"{describe_errors(calibration)}; {where}")
    return result, text


def calibrate_from(camera: str, schedule):
    """A calibration from a recorded eye video or the synthetic eye."""
    from app.eyes.calibrate import calibrate, record_live, record_video, schedule_gaze

    if camera == "synthetic":
        from app.eyes.camera import SyntheticEyeCamera
        from app.live.clock import MonotonicClock

        clock = MonotonicClock()
        samples = record_live(SyntheticEyeCamera(clock, schedule_gaze(schedule)), schedule, clock)
    elif camera.isdigit():
        raise LivefaceError(f"a live camera is calibrated in the headset, where the targets "
                            f"can be shown: `liveface run --eye-camera {camera} "
                            "--calibrate-eyes`; or pass a recording made while following "
                            "calibration/eye_targets.toml.")
    else:
        samples = record_video(Path(camera), schedule)
    return calibrate(samples, schedule)


def _avatar(args: argparse.Namespace, config) -> tuple[dict, str]:
    from app.avatar.gltf import avatar_info, load_avatar

    path = args.avatar.resolve()
    info = avatar_info(load_avatar(path), path)
    missing = info["missing_targets"]
    result = {"avatar": str(path), "vertices": info["vertices"],
              "morph_targets": len(info["morph_targets"]), "missing_targets": missing,
              "saved_to": _saved("avatar", "path", str(path), args)}
    text = (f"avatar {path}: {info['vertices']} vertices, {len(info['morph_targets'])} ARKit "
            "targets" + (f"; missing (those expressions stay still): {' '.join(missing)}"
                         if missing else ", all 52"))
    if result["saved_to"]:
        text += f"\nsaved as the default avatar in {result['saved_to']}"
    return result, text
