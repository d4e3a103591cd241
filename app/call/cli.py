"""`liveface call`: two people, two avatars, one conversation (WebRTC).

    liveface call --host [--invite-file F] [--bind ADDRESS]   # prints an invite, waits
    liveface call INVITE                                      # joins
    liveface call --host --audio a.wav --duration 30 --stats-json s.json --screenshot p.png
    liveface call INVITE --headset [--mirror off|side]        # the peer across from you in VR
    liveface call --room URL --room-name N --token T --bind ADDRESS   # three or more
    liveface room serve --bind ADDRESS [--room-name N]        # the room server (Janus)

Heavy imports (aiortc, torch, moderngl) happen inside the handler, so `liveface --help`
stays fast.
"""

import argparse
import os
import sys
from pathlib import Path

from app.avatar.emotions import EMOTIONS
from app.call.room_server import DEFAULT_PORT, DEFAULT_ROOM
from app.cli_args import positive_seconds
from app.config import Config
from app.errors import LivefaceError
from app.live.cli_common import (
    add_voice_profile_flags,
    apply_profile,
    microphone,
    voice_profile,
)

FACE_RATES_HZ = (50, 25)


def add_call_command(subparsers) -> None:
    call = subparsers.add_parser(
        "call", help="a call with another liveface: your voice and face to them, theirs to you")
    call.add_argument("invite", nargs="?", help="join the call this invite names "
                      "(liveface://HOST:PORT/SECRET, or @FILE to read it from a file)")
    call.add_argument("--host", action="store_true",
                      help="host a call: print a one-time invite and wait for the other side")
    call.add_argument("--invite-file", type=Path,
                      help="with --host: also write the invite to this file (mode 600)")
    call.add_argument("--bind", metavar="ADDRESS",
                      help="use only this local IP address, for signalling and for every "
                           "media candidate (e.g. 127.0.0.1; default: every interface)")
    call.add_argument("--port", type=int, default=0,
                      help="with --host: the signalling port (default: any free one)")
    call.add_argument("--wait", type=positive_seconds, default=300.0,
                      help="with --host: give up after S seconds without a joiner (default 300)")
    source = call.add_mutually_exclusive_group()
    source.add_argument("--audio", type=Path, help="send this file as if it were the microphone")
    source.add_argument("--device", help="input device by index or (part of its) name "
                        "(default: the one `liveface calibrate mic` saved, else the system's "
                        "default microphone)")
    model = call.add_mutually_exclusive_group()
    model.add_argument("--model", type=Path, help="a model bundle (default: the shipped student)")
    model.add_argument("--stand-in", action="store_true",
                       help="animate with the loudness stand-in instead of the model")
    call.add_argument("--no-speaker", action="store_true",
                      help="do not play the peer's voice (default: on the default output "
                           "device, when there is one)")
    call.add_argument("--emotion", default="neutral", help=", ".join(EMOTIONS))
    call.add_argument("--intensity", type=float, default=0.0, help="emotion intensity 0..1")
    add_voice_profile_flags(call)
    call.add_argument("--avatar", type=Path, help="your avatar: the peer draws you with it "
                      "when they have the same file, else with the shipped head (default: "
                      "the configured avatar, else the shipped head)")
    call.add_argument("--duration", type=positive_seconds,
                      help="hang up after S seconds of call")
    call.add_argument("--face-rate", type=int, choices=FACE_RATES_HZ, default=25,
                      help="face messages per second (default 25: about 8 kbit/s with "
                           "the clock pings; 50 doubles the face stream; the receiver "
                           "interpolates)")
    call.add_argument("--stats-json", type=Path, help="write the call's figures here as JSON")
    call.add_argument("--screenshot", type=Path,
                      help="save the peer's avatar as last shown, beside yours, as a PNG")
    call.add_argument("--screenshot-at", type=positive_seconds, metavar="S",
                      help="with --screenshot: the faces shown S seconds into the call "
                           "(default: the last ones)")
    call.add_argument("--trace-json", type=Path,
                      help="write each display tick (time, voice media time, jawOpen shown, "
                           "state) as JSON")
    call.add_argument("--record-peer", type=Path,
                      help="write the peer's voice as received to this WAV file")
    call.add_argument("--window", action="store_true",
                      help="show the call in a desktop window: the peer's avatar and yours "
                           "side by side (default: headless, figures and --screenshot only)")
    headset = call.add_argument_group("in the headset (--headset)")
    headset.add_argument("--headset", action="store_true",
                         help="show the peer in a VR headset through OpenXR: across from you "
                              "at 1.2 m, facing you (--screenshot then saves both eyes)")
    headset.add_argument("--mirror", choices=("side", "off"),
                         help="with --headset: your own reflection beside the peer (side, "
                              "the default) or none")
    headset.add_argument("--screenshot-speaking", type=Path, metavar="PNG",
                         help="with --headset: both eyes at the moment the peer's mouth was "
                              "open widest")
    headset.add_argument("--resolution-scale", type=float,
                         help="with --headset: fraction of the headset's recommended eye "
                              "resolution (default: 1 on a GPU, less on software OpenGL)")
    headset.add_argument("--graphics", choices=("auto", "egl", "platform"), default="auto",
                         help="with --headset: how OpenGL meets the runtime (as `liveface "
                              "run`)")
    room = call.add_argument_group("in a room of three or more (--room)")
    room.add_argument("--room", metavar="URL",
                      help="join a room on this room server (the URL `liveface room serve` "
                           "prints) instead of a call of two")
    room.add_argument("--room-name", default=DEFAULT_ROOM,
                      help=f"with --room: the room (default {DEFAULT_ROOM})")
    room.add_argument("--display", help="with --room: the name the others see (default: "
                                        "your login name)")
    room.add_argument("--token", default="",
                      help="with --room: the room's token (`liveface room serve` prints it)")
    call.add_argument("--face-loss", type=float, default=0.0, metavar="FRACTION",
                      help="testing: drop this fraction of the face messages you send, as a "
                           "lossy network would")
    call.add_argument("--outage", type=_outage, metavar="START:SECONDS",
                      help="testing: send nothing (voice, faces, pings) for SECONDS from START "
                           "seconds into the call, as if your network had gone")


def run_call_command(args: argparse.Namespace, config: Config) -> None:
    if args.room:
        _check_room_flags(args)
    else:
        _check_flags(args)  # mistakes are said before anything heavy loads
    from app.call.ice import limit_host_candidates
    from app.call.session import CallRequest, run_call
    from app.live.clock import MonotonicClock

    limit_host_candidates(args.bind)
    config = apply_profile(args, config)[0]
    if args.room:
        _run_room_call(args, _call_request(args, config, CallRequest))
        return
    request = _call_request(args, config, CallRequest)
    if args.window:
        from app.call.window import WindowCallOptions, run_call_in_window

        result = run_call_in_window(request, WindowCallOptions(args.screenshot),
                                    MonotonicClock())
    elif args.headset:
        from app.call.headset import HeadsetOptions, run_call_in_headset

        result = run_call_in_headset(request, HeadsetOptions(
            mirror=args.mirror or "side", screenshot=args.screenshot,
            speaking_screenshot=args.screenshot_speaking, graphics=args.graphics,
            resolution_scale=args.resolution_scale),
            MonotonicClock())
    else:
        result = run_call(request, MonotonicClock())
    _write_figures(args, result.stats, {"ticks": result.trace})
    if args.screenshot and not (args.headset or args.window):  # there: saved as shown
        from app.call.picture import save_call_picture

        save_call_picture(args.screenshot, result)
    print(_summary(result.stats), file=sys.stderr)


def _write_figures(args: argparse.Namespace, stats: dict, traces: dict) -> None:
    """--stats-json and --trace-json, where asked for."""
    if args.stats_json:
        _write_json(args.stats_json, stats)
    if args.trace_json:
        _write_json(args.trace_json, {"columns": ["call_s", "heard_s", "jaw_open", "state"],
                                      **traces})


def _call_request(args: argparse.Namespace, config: Config, request_type):
    return request_type(
        invite=_invite_text(args.invite), host=args.host,
        on_invite=lambda invite: _announce_invite(invite, args.invite_file),
        bind=args.bind, port=args.port, wait_s=args.wait, audio=args.audio,
        device=microphone(args, config), voice_profile=voice_profile(args),
        model=args.model, stand_in=args.stand_in, emotion=args.emotion,
        intensity=args.intensity, duration_s=args.duration, face_rate_hz=args.face_rate,
        face_loss=args.face_loss, outage=args.outage, record_peer=args.record_peer,
        picture_at_s=args.screenshot_at, speaker=not args.no_speaker,
        avatar=_avatar_path(args, config))


def _run_room_call(args: argparse.Namespace, call_request) -> None:
    from app.call.room import RoomRequest, run_room
    from app.live.clock import MonotonicClock

    request = RoomRequest(call=call_request, url=args.room, room=args.room_name,
                          display=args.display or _login_name(), token=args.token)
    if args.window:
        from app.call.window import WindowCallOptions, run_room_in_window

        result = run_room_in_window(request, WindowCallOptions(args.screenshot),
                                    MonotonicClock())
    else:
        result = run_room(request, MonotonicClock())
    _write_figures(args, result.stats, {"participants": result.traces})
    if args.screenshot and not args.window:  # the window saves it as shown
        from app.call.picture import save_room_picture

        save_room_picture(args.screenshot, result)
    for name, figures in result.stats["participants"].items():
        print(f"{name}: {_summary(figures)}", file=sys.stderr)


def _check_room_flags(args: argparse.Namespace) -> None:
    """A room takes the microphone, model and picture flags of a call of two; not the
    invite's, nor (yet) the window's or the headset's."""
    from app.avatar.emotions import check_emotion
    from app.call.ice import check_bind_address
    from app.call.room_server import check_room_name

    check_emotion(args.emotion, args.intensity)
    check_room_name(args.room_name)
    if not args.room.startswith(("http://", "https://")):
        raise LivefaceError(f"--room takes the room server's URL (http://ADDRESS:PORT/janus, "
                            f"as `liveface room serve` prints it), got '{args.room}'.")
    if args.bind:
        check_bind_address(args.bind)
    _check_window_display(args)
    for flag, value in (("an invite", args.invite), ("--host", args.host),
                        ("--headset", args.headset),
                        ("--record-peer", args.record_peer),
                        ("--outage", args.outage), ("--face-loss", args.face_loss)):
        if value:
            raise LivefaceError(f"--room does not take {flag}: a room shows everyone in "
                                "--window or headless (--stats-json, --screenshot), not yet "
                                "in the headset.")


def _check_window_display(args: argparse.Namespace) -> None:
    if args.window and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise LivefaceError("--window needs a display (DISPLAY is not set): hold the call on "
                            "a desktop, under a virtual display (`xvfb-run liveface call ...`), "
                            "or headless without --window.")


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "liveface"


def add_room_command(subparsers) -> None:
    room = subparsers.add_parser("room", help="a room server for calls of three or more")
    actions = room.add_subparsers(dest="room_command", required=True)
    serve = actions.add_parser("serve", help="run a room server (Janus' VideoRoom) holding "
                               "one room; prints its URL and token, runs until Ctrl+C")
    serve.add_argument("--bind", required=True, metavar="ADDRESS",
                       help="this machine's address that the participants reach; the server "
                            "listens and gathers ICE candidates on it alone")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"the HTTP port of the room server (default {DEFAULT_PORT})")
    serve.add_argument("--room-name", default=DEFAULT_ROOM,
                       help=f"the room's name (default {DEFAULT_ROOM})")
    serve.add_argument("--token", help="the token participants give (default: a new random "
                                       "one, printed)")
    serve.add_argument("--config-dir", type=Path,
                       help="write Janus' configuration here (default: a temporary folder)")


def run_room_command(args: argparse.Namespace, config: Config) -> None:
    from app.call.room_server import (
        RoomServer,
        check_room_bind,
        check_room_name,
        janus_binary,
        new_token,
        serve_room,
    )

    check_room_bind(args.bind)
    check_room_name(args.room_name)
    if not 0 < args.port < 65536:
        raise LivefaceError(f"--port is 1 to 65535, got {args.port}.")
    janus_binary()
    server = RoomServer(args.bind, args.port, args.room_name, args.token or new_token())
    status = serve_room(server, args.config_dir)
    if status not in (0, -2, 130):  # ended by Ctrl+C: a clean stop
        raise LivefaceError(f"the room server (janus) stopped with status {status}; its "
                            "messages above say why.")


def _outage(text: str) -> tuple[float, float]:
    try:
        start, length = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:SECONDS, got '{text}'") from None
    if not (0.0 <= start < float("inf") and 0.0 < length < float("inf")):
        raise argparse.ArgumentTypeError(f"expected START >= 0 and SECONDS > 0, got '{text}'")
    return start, length


def _check_flags(args: argparse.Namespace) -> None:
    from app.avatar.emotions import check_emotion
    from app.call.ice import check_bind_address
    from app.call.invite import parse_invite

    check_emotion(args.emotion, args.intensity)
    if args.host == bool(args.invite):
        raise LivefaceError("give either --host (to host a call) or an invite (to join one).")
    if not 0.0 <= args.face_loss < 1.0:
        raise LivefaceError(f"--face-loss is a fraction from 0 to below 1, got {args.face_loss}.")
    if args.invite:
        parse_invite(_invite_text(args.invite))
    if args.bind:
        check_bind_address(args.bind)
    if args.resolution_scale is not None and not 0.1 <= args.resolution_scale <= 2.0:
        raise LivefaceError(f"--resolution-scale must be within 0.1 .. 2, got "
                            f"{args.resolution_scale}.")
    if args.window and args.headset:
        raise LivefaceError("give --window or --headset, not both.")
    _check_window_display(args)
    if not args.headset:
        for flag, value in (("--mirror", args.mirror),
                            ("--screenshot-speaking", args.screenshot_speaking),
                            ("--resolution-scale", args.resolution_scale)):
            if value is not None:
                raise LivefaceError(f"{flag} is for the headset: add --headset.")
    elif args.screenshot_at is not None:
        raise LivefaceError("--screenshot-at is for the headless picture; in the headset "
                            "--screenshot saves both eyes at the end.")


def _announce_invite(invite, invite_file: Path | None) -> None:
    """Print the invite (stdout, for the person to pass on) and write it to the file,
    readable by its owner only."""
    if invite_file is not None:
        try:
            invite_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(invite_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                os.fchmod(file.fileno(), 0o600)
                file.write(f"{invite}\n")
        except OSError as err:
            raise LivefaceError(f"cannot write the invite to {invite_file}: "
                                f"{err.strerror}.") from None
    print(invite, flush=True)


def _invite_text(invite: str | None) -> str | None:
    if invite is None or not invite.startswith("@"):
        return invite
    try:
        return Path(invite[1:]).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise LivefaceError(f"cannot read the invite file {invite[1:]}: {err.strerror}.") from None


def _avatar_path(args: argparse.Namespace, config: Config) -> Path | None:
    """--avatar, else --profile's or the config's avatar; None: the shipped head."""
    return args.avatar or (Path(config.avatar.path) if config.avatar.path else None)


def _write_json(path: Path, data: dict) -> None:
    from app.live.cli_common import write_stats_json

    write_stats_json(path, data)


def _summary(stats: dict) -> str:
    def ms(figure: dict) -> str:
        if figure["p50"] is None:
            return "--"
        return f"p50 {figure['p50']:.0f} ms p99 {figure['p99']:.0f} ms"

    return (f"call: {stats['call_s']:.1f} s, {stats['frames_received']} faces received, "
            f"mouth-to-mouth {ms(stats['mouth_to_mouth_ms'])}, audio-face offset "
            f"{ms(stats['audio_face_offset_ms'])}, face stream {stats['face_kbit_s']:.1f} kbit/s, "
            f"loss {stats['face_loss']}")
