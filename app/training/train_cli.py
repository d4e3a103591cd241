"""`liveface train | distill | export`: flags in, one call into the training stages.

    liveface train --data DIR --run RUN [--preset cpu] [--stage all] [--steps N]
                   [--device cpu|cuda] [--resume] [--extra-data DIR ...]
    liveface train --data DIR --run RUN --from-models assets/models
    liveface train --run RUN --stage teacher --init-from T --lookahead-ms 40
    liveface distill --run RUN [--steps N] [--device cpu|cuda] [--lookahead-ms 40]
                     [--init-from STUDENT_BUNDLE]
    liveface export --run RUN --out assets/models/
    liveface contact --out BUNDLE [--student BUNDLE] [--data DIR] [--recorded CORPUS ...]

The same commands run multi-process under torchrun; spell --run as --run-dir there, since
torchrun's own parser takes "--run" for an abbreviation of its --run-path:
    torchrun --nproc-per-node 2 -m app.cli train --data DIR --run-dir RUN --stage teacher
`add_train_commands` adds the four parsers to the CLI; `run_train_command` runs one.
"""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from app.audio.contract import FRAME_RATE_HZ
from app.errors import LivefaceError
from app.training.presets import PRESETS

TRAIN_COMMANDS = ("train", "distill", "export", "contact")
CONTACT_CORPORA = ("asterisk-en", "asterisk-fr", "asterisk-it")  # recorded training speakers
SPEED_RANGE = (1.0, 1.0)  # the contact head's augmented copies: as recorded
FRAME_MS = 1000 // FRAME_RATE_HZ


def _steps(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--steps must be >= 1, got {value}")
    return value


def _speed_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give two speeds as LOW,HIGH, got {text!r}") from None
    if not 0.5 <= low <= high <= 2.0:
        raise argparse.ArgumentTypeError(f"speeds between 0.5 and 2 with LOW <= HIGH, got {text}")
    return low, high


def _weight(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"a weight must be 0 or more, got {text}")
    return value


def _lookahead(text: str) -> int:
    value = int(text)
    if value < 0 or value % FRAME_MS:
        raise argparse.ArgumentTypeError(f"give a multiple of {FRAME_MS} ms, 0 or more (got "
                                         f"{text})")
    return value


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where to train (default cpu)")
    parser.add_argument("--threads", type=_steps,
                        help="torch threads per process (default: torch's choice)")


def add_train_commands(subparsers) -> None:
    train = subparsers.add_parser("train", help="train the codec, the teacher and the offline "
                                  "baseline on a built data set")
    train.add_argument("--data", type=Path, help="a data set folder (from `liveface data "
                       "build`); needed when RUN is new")
    train.add_argument("--run", "--run-dir", dest="run", type=Path, required=True,
                       help="the run folder (checkpoints, log.jsonl)")
    train.add_argument("--preset", choices=tuple(PRESETS), help="model size and schedule "
                       "(default cpu; fixed once a run has started)")
    train.add_argument("--stage", choices=("codec", "teacher", "offline", "all"), default="all")
    train.add_argument("--steps", type=_steps, help="override the stage's step count")
    train.add_argument("--resume", action="store_true", help="continue from RUN's checkpoints")
    train.add_argument("--extra-data", type=Path, action="append", help="another data set whose "
                       "train split joins the windows (repeatable), e.g. recorded speech from "
                       "`liveface data recorded`")
    train.add_argument("--from-models", type=Path, help="start a new run from exported bundles "
                       "(e.g. assets/models): writes its codec, teacher and offline as finished "
                       "stages, to fine-tune with --init-from RUN/teacher.safetensors or distil")
    train.add_argument("--init-from", type=Path, help="fine-tune the stage from this finished "
                       "checkpoint (e.g. OTHER_RUN/teacher.safetensors; same codec)")
    train.add_argument("--lookahead-ms", type=_lookahead, default=0,
                       help="with --stage teacher: audio the teacher hears past each frame, a "
                       "multiple of 20 ms (default 0; the teacher of a look-ahead student)")
    _add_device(train)

    distill = subparsers.add_parser("distill", help="distil the teacher into the one-step "
                                    "student (resumes when RUN has a distill checkpoint)")
    distill.add_argument("--run", "--run-dir", dest="run", type=Path, required=True)
    distill.add_argument("--steps", type=_steps, help="override the stage's step count")
    distill.add_argument("--contact-weight", type=_weight, help="the lip-contact term's "
                         "weight (the preset's: 0.1 for cpu): lips left apart where the "
                         "reference's touch, charged squared")
    distill.add_argument("--lookahead-ms", type=_lookahead,
                         help="audio the student hears past each frame before it samples it, a "
                         "multiple of 20 ms (default: the teacher's, 0 for the live teacher; "
                         "more waits that long for a surer mouth, e.g. 100 for files)")
    distill.add_argument("--init-from", type=Path, help="start the student from this student "
                         "bundle (e.g. assets/models/liveface-student.safetensors) instead of "
                         "the teacher's weights")
    _add_device(distill)

    export = subparsers.add_parser("export", help="write the student, teacher and offline "
                                   "bundles as safetensors files")
    export.add_argument("--run", "--run-dir", dest="run", type=Path, required=True)
    export.add_argument("--out", type=Path, default=Path("assets/models"))

    contact = subparsers.add_parser("contact", help="fit a student's lip-contact head on "
                                    "recorded and synthetic speech, choose its thresholds on "
                                    "validation and write the bundle with it")
    contact.add_argument("--out", type=Path, required=True, help="the bundle to write")
    contact.add_argument("--student", type=Path, help="the student bundle (default: the shipped "
                         "one)")
    contact.add_argument("--data", type=Path, help="the data set (default: the shipped model's, "
                         "rebuilt into the cache as `liveface eval` does)")
    contact.add_argument("--recorded", action="append", help="a recorded corpus name (built "
                         "into the cache once) or folder whose train prompts join the frames "
                         f"(repeatable; default {', '.join(CONTACT_CORPORA)})")
    contact.add_argument("--validation", type=Path, action="append", help="a recorded corpus "
                         "folder whose validation prompts choose the thresholds (repeatable; "
                         "default: Asterisk's English and Russian prompts, as `liveface eval`)")
    contact.add_argument("--steps", type=_steps, default=3000, help="fitting steps (default "
                         "3000)")
    contact.add_argument("--augmented", type=int, choices=range(0, 5), default=1,
                         help="augmented copies of each clip beside the clean one (default 1)")
    contact.add_argument("--speed-range", type=_speed_range, default=SPEED_RANGE,
                         metavar="LOW,HIGH", help="play each augmented copy this many times as "
                         "fast, drawn between the two (other talkers' rates, pitches and vocal "
                         f"tracts; default {SPEED_RANGE[0]},{SPEED_RANGE[1]}; 1,1: as recorded)")
    contact.add_argument("--release-frames", type=int, choices=range(0, 6), default=0,
                         help="frames of speech after a p/b/m the head learns as the lips' "
                         "release, a class of its own (default 0: none; 2 was tried)")
    contact.add_argument("--max-clips", type=_steps, default=12, help="validation clips per "
                         "set (default 12, as `liveface eval`)")
    contact.add_argument("--threads", type=_steps, help="torch threads")


def run_train_command(args: argparse.Namespace, config=None) -> None:
    """The handler of all three commands (`config`, the app config, is not needed here)."""
    from app.training.distill import distill, export
    from app.training.train import open_run, start_runtime, stop_runtime, train

    if args.command == "contact":
        _contact(args)
        return
    if args.command == "export":
        for path in export(open_run(args.run), args.out):
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return
    if args.threads:
        import torch  # imported here so other commands start without it

        torch.set_num_threads(args.threads)
    runtime = start_runtime(args.device)
    try:
        if args.command == "train":
            extra = tuple(args.extra_data) if args.extra_data else None
            run = open_run(args.run, args.data, args.preset, runtime, extra)
            if args.from_models:
                from app.training.train import seed_from_bundles

                stages = seed_from_bundles(run, args.from_models)
                print(f"{run.dir}: {', '.join(stages)} taken from {args.from_models}")
                return
            train(run, runtime, args.stage, args.steps, args.resume, args.init_from,
                  args.lookahead_ms // FRAME_MS)
        else:
            run = open_run(args.run, runtime=runtime)
            if args.contact_weight is not None:
                preset = replace(run.preset, distill_contact_weight=args.contact_weight)
                run = replace(run, preset=preset)
            lookahead = None if args.lookahead_ms is None else args.lookahead_ms // FRAME_MS
            distill(run, runtime, args.steps, resume=True, lookahead_frames=lookahead,
                    init_from=args.init_from)
    finally:
        stop_runtime()


def _contact(args: argparse.Namespace) -> None:
    import torch

    from app.checkpoints import STUDENT_FILE
    from app.eval.eval_cli import VALIDATION_CORPORA, cached_data, cached_recorded
    from app.resources import asset_path
    from app.training.contact import fit_contact

    if args.threads:
        torch.set_num_threads(args.threads)
    models = asset_path("models")
    student = args.student or models / STUDENT_FILE
    if not student.is_file():
        raise LivefaceError(f"{student} does not exist: give a student bundle (--student).")
    data = args.data or cached_data(models)
    recorded = [Path(name) if Path(name).is_dir() else cached_recorded(name)
                for name in (args.recorded or CONTACT_CORPORA)]
    validation = args.validation or [cached_recorded(name) for name in VALIDATION_CORPORA]
    speeds = None if args.speed_range == (1.0, 1.0) else args.speed_range
    fit_contact(student, data, recorded, validation, args.out, args.steps, args.augmented,
                args.max_clips, speeds=speeds, release=args.release_frames)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (the same commands as `liveface`)."""
    parser = argparse.ArgumentParser(prog="liveface")
    add_train_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        run_train_command(args)
    except LivefaceError as err:
        print(f"liveface: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
