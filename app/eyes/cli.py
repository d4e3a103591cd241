"""`liveface calibrate eyes`: fit the eye camera's gaze mapping and store it as a profile.

    liveface calibrate eyes --camera eye.mkv        # a recording made following the targets
    liveface calibrate eyes --camera synthetic      # the synthetic eye (a demo, 16 s)
    liveface calibrate eyes --camera eye.mkv --profile me.json --json

The targets (calibration/eye_targets.toml) are looked at in order, each for 1.5 s, from the
recording's first frame. A live camera is calibrated in the headset, which shows the
targets: `liveface run --eye-camera 0 --calibrate-eyes`.
"""

import argparse
import json
from pathlib import Path

from app.errors import LivefaceError


def add_calibrate_command(subparsers) -> None:
    calibrate = subparsers.add_parser("calibrate", help="calibrate the eye cameras")
    parts = calibrate.add_subparsers(dest="calibrate_part", required=True, metavar="PART")
    eyes = parts.add_parser("eyes", help="fit pupil position -> gaze from a run through the "
                                         "calibration targets, and save it as a profile")
    eyes.add_argument("--camera", required=True,
                      help="an eye video recorded while following the targets from its first "
                           "frame, or `synthetic`")
    eyes.add_argument("--targets", type=Path,
                      help="a target schedule TOML (default: calibration/eye_targets.toml)")
    eyes.add_argument("--profile", type=Path,
                      help="where to save the profile (default: the user's config folder)")
    eyes.add_argument("--json", action="store_true", help="print the result as JSON")


def run_calibrate_command(args: argparse.Namespace, config) -> None:
    from app.eyes.calibration import load_schedule, save_profile

    schedule = load_schedule(args.targets)
    calibration = calibrate_from(args.camera, schedule)
    path = save_profile(calibration, args.profile)
    result = {"profile": str(path), "targets_used": calibration.targets_used,
              "targets": len(schedule.targets_rad), "error_deg": round(calibration.error_deg, 3)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"eye calibration: {result['targets_used']} of {result['targets']} targets, "
              f"fit error {result['error_deg']:.2f} deg; saved to {path}")


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
