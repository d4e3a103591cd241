"""`liveface run`: the live avatar in a PC-VR headset, through OpenXR.

    liveface run                                   # the default microphone, until the
                                                   # headset's runtime ends the session
    liveface run --audio speech.wav --duration 10 --stats-json x.json --screenshot eyes.png

Heavy imports (pyopenxr, moderngl, torch) happen inside the handler.
"""

import argparse
import sys
from pathlib import Path

from app.config import Config
from app.errors import LivefaceError
from app.live.cli_common import (add_live_arguments, latency_line, live_request,
                                 write_stats_json)
from app.wizard.cli import add_mirror_wizard_arguments, mirror_wizard_options


def add_run_command(subparsers) -> None:
    run = subparsers.add_parser(
        "run", help="the live avatar in a VR headset through OpenXR (microphone or --audio FILE)")
    add_live_arguments(run)
    run.add_argument("--screenshot", type=Path,
                     help="save the last frame of both eyes, side by side, as a PNG")
    run.add_argument("--mirror-distance", type=float, default=1.0,
                     help="metres from your eyes to the virtual mirror (default 1)")
    run.add_argument("--resolution-scale", type=float,
                     help="fraction of the headset's recommended eye resolution (default: 1 "
                          "on a GPU, less on software OpenGL)")
    run.add_argument("--calibrate-eyes", action="store_true",
                     help="with --eye-camera: first show the eye-calibration targets (look at "
                          "each in turn, about 16 s), then save the profile and use it")
    run.add_argument("--graphics", choices=("auto", "egl", "platform"), default="auto",
                     help="how OpenGL meets the runtime: EGL where offered (auto), or the "
                          "platform's GLX/WGL with a hidden window")
    add_mirror_wizard_arguments(run, where="headset")
    run.add_argument("--screenshot-prompt", type=Path, metavar="PNG",
                     help="with --calibrate: save both eyes when the wizard first shows a "
                          "sentence or instruction to act on")


def run_run_command(args: argparse.Namespace, config: Config) -> None:
    from app.avatar.emotions import check_emotion
    from app.live.clock import MonotonicClock
    from app.xr.run import XrRequest, run_headset

    check_emotion(args.emotion, args.intensity)
    if not 0.2 <= args.mirror_distance <= 5.0:
        raise LivefaceError(f"--mirror-distance must be within 0.2 .. 5 m, got "
                            f"{args.mirror_distance}.")
    if args.resolution_scale is not None and not 0.1 <= args.resolution_scale <= 2.0:
        raise LivefaceError(f"--resolution-scale must be within 0.1 .. 2, got "
                            f"{args.resolution_scale}.")
    if args.screenshot_prompt is not None and not args.calibrate:
        raise LivefaceError("--screenshot-prompt needs --calibrate (the wizard's panel).")
    if args.calibrate_eyes and args.eye_camera is None:
        raise LivefaceError("--calibrate-eyes needs --eye-camera (the camera to calibrate).")
    request = XrRequest(**live_request(args, config), mirror_distance_m=args.mirror_distance,
                        resolution_scale=args.resolution_scale, graphics=args.graphics,
                        calibrate_eyes=args.calibrate_eyes,
                        calibrate=mirror_wizard_options(args),
                        prompt_screenshot=args.screenshot_prompt)
    stats = run_headset(request, MonotonicClock())
    if args.stats_json:
        write_stats_json(args.stats_json, stats)
    print(f"run: {stats['frames']} frames at {stats['fps']:.1f} fps, states "
          f"{' -> '.join(stats['states']) or '(none)'}, {latency_line(stats)}", file=sys.stderr)
