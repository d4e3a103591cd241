"""The command-line flags every live front end shares (`liveface mirror`, `liveface run`):
where the audio comes from, what animates it, which avatar, how long, and where the run's
figures go."""

import argparse
import json
from dataclasses import replace
from pathlib import Path

from app.avatar.emotions import EMOTIONS
from app.cli_args import positive_seconds
from app.errors import LivefaceError, notice
from app.outputs.livelink import DEFAULT_ENDPOINT as LIVELINK_ENDPOINT
from app.outputs.livelink import DEFAULT_SUBJECT as LIVELINK_SUBJECT
from app.outputs.vrchat import DEFAULT_ENDPOINT as VRCHAT_ENDPOINT
from app.outputs.vrchat import DEFAULT_LISTEN as VRCHAT_LISTEN
from app.outputs.vrchat import MAX_BITS as VRCHAT_MAX_BITS
from app.outputs.vrchat import VRChatOptions
from app.profiles import DEFAULT_PROFILE, profile_folder, read_profile


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--audio", type=Path,
                        help="play this file as if it were the microphone (heard when an "
                             "output device exists)")
    source.add_argument("--device", help="input device by index or (part of its) name "
                                         "(default: the one `liveface calibrate mic` saved, "
                                         "else the system's default microphone)")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--model", type=Path, help="a model bundle (default: the shipped student)")
    model.add_argument("--stand-in", action="store_true",
                       help="animate with the loudness stand-in instead of the model")
    parser.add_argument("--model-device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the model runs: auto (the CPU while it keeps up, as it "
                        "does at about 2 ms a step; else CUDA when present), cpu, or cuda")
    add_voice_profile_flags(parser)
    parser.add_argument("--avatar", type=Path, help="a glTF avatar with ARKit morph targets "
                        "(default: the shipped head)")
    parser.add_argument("--duration", type=positive_seconds,
                        help="close by itself after S seconds")
    parser.add_argument("--stats-json", type=Path, help="write the run's figures here as JSON")
    parser.add_argument("--emotion", default="neutral", help="starting emotion: "
                        + ", ".join(EMOTIONS))
    parser.add_argument("--intensity", type=float, default=0.0,
                        help="starting emotion intensity 0..1")
    parser.add_argument("--osc", metavar="HOST:PORT",
                        help="stream every frame (rig vector, texture controls) as OSC to "
                             "another program")
    parser.add_argument("--vmc", metavar="HOST:PORT",
                        help="stream the 52 blendshapes with the VMC protocol (VSeeFace, "
                             "VNyan, Warudo: usually port 39540)")
    parser.add_argument("--vrchat", metavar="HOST:PORT", nargs="?", const=VRCHAT_ENDPOINT,
                        help="drive a VRChat avatar's face-tracking parameters (VRCFaceTracking "
                             f"unified expressions v2) over OSC (default {VRCHAT_ENDPOINT}, "
                             "VRChat's own input)")
    parser.add_argument("--vrchat-listen", metavar="[HOST:]PORT|off", default=VRCHAT_LISTEN,
                        help="with --vrchat: hear which parameters the avatar has from VRChat's "
                             f"OSC output and send only those (default {VRCHAT_LISTEN}; `off` "
                             "not to listen; a port already taken is skipped with a notice)")
    parser.add_argument("--vrchat-binary", metavar="BITS", type=vrchat_bits, default=0,
                        help="with --vrchat: send each parameter as BITS bools (v2/JawOpen1, "
                             "v2/JawOpen2, ... and v2/JawOpenNegative) for avatars short of "
                             "parameter memory, until the avatar names its own")
    parser.add_argument("--livelink", metavar="HOST[:PORT]", nargs="?", const=LIVELINK_ENDPOINT,
                        help="stream the face as the Live Link Face app does, to Unreal's Live "
                             f"Link (default {LIVELINK_ENDPOINT}; port 11111 when only HOST "
                             "is given)")
    parser.add_argument("--livelink-subject", metavar="NAME", default=LIVELINK_SUBJECT,
                        help="with --livelink: the subject name Unreal lists the face as "
                             f"(default {LIVELINK_SUBJECT})")
    parser.add_argument("--osc-control", metavar="[HOST:]PORT",
                        help="take emotion, intensity and mute from OSC messages "
                             "(/liveface/emotion NAME [I], /liveface/intensity I, "
                             "/liveface/mute 0|1); PORT alone listens on this machine only")
    parser.add_argument("--eye-camera", metavar="CAMERA",
                        help="drive the avatar's gaze and blinks from an eye camera: its "
                             "index, a recorded eye video, or `synthetic` (default: the "
                             "headset's eye tracker when it has one, else the model's own)")
    parser.add_argument("--eye-profile", type=Path, help="the eye camera's calibration "
                        "(default: the one `liveface run --calibrate-eyes` or `liveface "
                        "calibrate eyes` saved)")


def live_request(args: argparse.Namespace, config) -> dict:
    """The keyword arguments every live front end's request takes, from the shared flags,
    the profile they name and the config."""
    config, eye_calibration = apply_profile(args, config, getattr(args, "calibrate", False))
    avatar = args.avatar or (Path(config.avatar.path) if config.avatar.path else None)
    return {"audio": args.audio, "device": microphone(args, config), "model": args.model,
            "stand_in": args.stand_in, "model_device": args.model_device,
            "voice_profile": voice_profile(args), "avatar": avatar, "duration_s": args.duration,
            "screenshot": args.screenshot, "emotion": args.emotion,
            "intensity": args.intensity, "eye_camera": args.eye_camera,
            "eye_profile": args.eye_profile, "eye_calibration": eye_calibration,
            "osc": args.osc, "vmc": args.vmc,
            "osc_control": args.osc_control, "vrchat": vrchat_options(args),
            "livelink": livelink_options(args)}


def add_voice_profile_flags(parser: argparse.ArgumentParser) -> None:
    """--profile NAME, --voice-profile NAME / --no-voice-profile (live commands, render and
    animate)."""
    parser.add_argument("--profile", metavar="NAME",
                        help="the calibration profile to use (`liveface calibrate --profile "
                             "NAME` makes one): its microphone, avatar, eye calibration and "
                             "voice adapter, each unless a flag names another (default: the "
                             "config's microphone and avatar, and the 'default' profile's "
                             "voice adapter)")
    voice = parser.add_mutually_exclusive_group()
    voice.add_argument("--voice-profile", metavar="NAME",
                       help="the profile whose voice adapter the model uses (default: "
                            f"'{DEFAULT_PROFILE}', when `liveface calibrate voice` made one)")
    voice.add_argument("--no-voice-profile", action="store_true",
                       help="the model as shipped, without a voice adapter")


def voice_profile(args: argparse.Namespace) -> str | None:
    """The profile name the model's voice adapter comes from; None for none."""
    if args.no_voice_profile:
        return None
    return args.voice_profile or getattr(args, "profile", None) or DEFAULT_PROFILE


def apply_profile(args: argparse.Namespace, config, missing_ok: bool = False):
    """The config with --profile NAME's microphone and avatar in place of the config file's
    (flags still win: they are read after), and that profile's eye calibration (None
    without --profile, or when the profile holds none). A profile that does not exist is an
    error unless `missing_ok` (the wizard is about to make it); a damaged one is reported
    and the run goes on without it."""
    name = getattr(args, "profile", None)
    if name is None:
        return config, None
    profile_folder(name)  # a name that cannot be a profile's is said as such
    try:
        profile = read_profile(name)
    except LivefaceError as err:
        notice(f"{err} Running without it; `liveface calibrate --profile {name}` makes it anew.")
        return config, None
    if profile is None and missing_ok:
        return config, None
    if profile is None:
        raise LivefaceError(f"there is no profile named {name!r}; `liveface calibrate --profile "
                            f"{name}` makes one.")
    settings = profile.settings
    device = _setting(settings, "microphone", "device")
    avatar = _setting(settings, "avatar", "path")
    config = replace(config, audio=replace(config.audio, device=device or config.audio.device),
                     avatar=replace(config.avatar, path=avatar or config.avatar.path))
    eyes = settings.get("eyes")
    if not isinstance(eyes, dict):
        return config, None
    from app.eyes.calibration import GazeCalibration

    try:
        return config, GazeCalibration.from_dict(eyes)
    except (KeyError, ValueError, TypeError) as err:
        notice(f"the eye calibration of profile {name!r} is unreadable ({err}); `liveface "
               f"calibrate --profile {name}` makes it anew.")
        return config, None


def _setting(settings: dict, section: str, key: str) -> str:
    value = settings.get(section)
    value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def vrchat_bits(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= VRCHAT_MAX_BITS:
        raise argparse.ArgumentTypeError(f"expected 1 to {VRCHAT_MAX_BITS} bits, got '{text}'")
    return int(text)


def vrchat_options(args: argparse.Namespace) -> VRChatOptions | None:
    """The options for --vrchat and its companions; None without --vrchat."""
    if args.vrchat is None:
        return None
    listen = None if args.vrchat_listen.lower() == "off" else args.vrchat_listen
    return VRChatOptions(args.vrchat, listen, args.vrchat_binary)


def livelink_options(args: argparse.Namespace) -> tuple[str, str] | None:
    """(HOST[:PORT], subject name) for --livelink; None without it."""
    return None if args.livelink is None else (args.livelink, args.livelink_subject)


def microphone(args: argparse.Namespace, config) -> str | None:
    """--device, else the microphone `liveface calibrate mic` saved when it is plugged in,
    else None (the system's default)."""
    if args.device or args.audio or not config.audio.device:
        return args.device
    from app.audio.devices import find_input_device

    try:
        return find_input_device(config.audio.device).name
    except LivefaceError:
        notice(f"the microphone saved in the config ('{config.audio.device}') is not here; "
               "using the system's default (`liveface calibrate mic` saves another).")
        return None


def write_stats_json(path: Path, stats: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise LivefaceError(f"cannot write {path}: {err.strerror}.") from None


def latency_line(stats: dict) -> str:
    """'capture-to-frame p50 41.0 ms p99 59.2 ms' from a run's figures."""
    latency = stats["capture_to_frame_ms"]
    return f"capture-to-frame p50 {_ms(latency['p50'])} p99 {_ms(latency['p99'])}"


def _ms(value) -> str:
    return "--" if value is None else f"{value:.1f} ms"
