"""`liveface mirror`: the live avatar in a desktop window.

    liveface mirror                                  # the default microphone
    liveface mirror --audio speech.wav               # a file as if it were the microphone
    liveface mirror --audio speech.wav --duration 5 --stats-json s.json --screenshot m.png

Heavy imports (glfw, moderngl, torch) happen inside the handler, so `liveface --help`
stays fast.
"""

import argparse
import sys
from pathlib import Path

from app.cli_args import size
from app.config import Config
from app.errors import LivefaceError
from app.live.cli_common import (add_live_arguments, latency_line, live_request,
                                 write_stats_json)
from app.wizard.cli import add_mirror_wizard_arguments, mirror_wizard_options


def add_mirror_command(subparsers) -> None:
    mirror = subparsers.add_parser(
        "mirror", help="the live avatar in a desktop window (microphone or --audio FILE)")
    add_live_arguments(mirror)
    mirror.add_argument("--screenshot", type=Path, help="save the last frame as a PNG")
    mirror.add_argument("--size", type=size, help="window WIDTHxHEIGHT (default 960x720)")
    mirror.add_argument("--max-fps", type=float, help="frame cap (default: the monitor's rate)")
    mirror.add_argument("--render-scale", type=float,
                        help="draw the avatar at this fraction of the window's resolution "
                             "(default: 1 on a GPU, about 640x480 worth on software OpenGL)")
    mirror.add_argument("--no-overlay", action="store_true", help="the avatar alone")
    add_mirror_wizard_arguments(mirror)


def run_mirror_command(args: argparse.Namespace, config: Config) -> None:
    from app.avatar.emotions import check_emotion
    from app.live.clock import MonotonicClock
    from app.mirror.run import MirrorRequest, run_mirror

    check_emotion(args.emotion, args.intensity)
    mirror = config.mirror
    if args.size:
        mirror.width, mirror.height = args.size
    if args.max_fps is not None:
        mirror.max_fps = args.max_fps
    if args.render_scale is not None:
        if not 0.1 <= args.render_scale <= 1.0:
            raise LivefaceError(f"--render-scale must be within 0.1 .. 1, got {args.render_scale}.")
        mirror.render_scale = args.render_scale
    if args.no_overlay:
        mirror.overlay = False
    request = MirrorRequest(**live_request(args, config), calibrate=mirror_wizard_options(args))
    stats = run_mirror(request, mirror, MonotonicClock())
    if args.stats_json:
        write_stats_json(args.stats_json, stats)
    print(f"mirror: {stats['frames']} frames at {stats['fps']:.1f} fps, {latency_line(stats)}",
          file=sys.stderr)
