"""`liveface data build | recorded | takes | report | align`: flags and printing; the work
lives in the modules they call (`dataset_build`, `recorded`, `report`, `align`)."""

import argparse
import os
from pathlib import Path
from typing import Self

from app.cli_args import names, positive_int


def add_data_commands(commands) -> None:
    """Register `data` and its actions on the top-level subparsers."""
    data = commands.add_parser("data", help="build, inspect and align training data")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    _add_build(actions)
    recorded = actions.add_parser("recorded", help="align and animate a recorded corpus (a "
                                  "person's speech with its words) as a data set")
    recorded.add_argument("--out", type=Path, required=True, help="the data set folder")
    recorded.add_argument("--corpus", default="asterisk-en", help="which corpus (default "
                          "asterisk-en: Debian's asterisk-core-sounds-en-g722)")
    recorded.add_argument("--limit", type=positive_int, help="only the first N prompts")
    takes = actions.add_parser("takes", help="a recorded corpus' prompts as takes folders, "
                               "for `liveface calibrate voice` (enrol/ and check/)")
    takes.add_argument("--out", type=Path, required=True, help="the folder to write")
    takes.add_argument("--corpus", default="asterisk-it", help="which corpus (default "
                       "asterisk-it, a speaker the shipped model never heard)")
    takes.add_argument("--enrol", type=positive_int, default=12,
                       help="takes to enrol with (default 12, about a minute)")
    takes.add_argument("--check", type=positive_int, default=40,
                       help="other takes of the same speaker to judge on (default 40)")
    report = actions.add_parser("report", help="hours per language, voice, emotion, split")
    report.add_argument("dir", type=Path, help="a built data set folder")
    report.add_argument("--plot", type=Path, help="write a PNG of one clip here")
    report.add_argument("--clip", help="the clip id to plot (default: the first)")
    report.add_argument("--json", action="store_true", help="print JSON")
    align = actions.add_parser("align", help="force-align real speech and animate it")
    align.add_argument("--audio", type=Path, required=True, help="a recording (WAV, FLAC, ...)")
    align.add_argument("--text", required=True, help="what is said in the recording")
    align.add_argument("--out", type=Path, help="write <name>.timeline.json and <name>.rig.npy")


def _add_build(actions) -> None:
    build = actions.add_parser("build", help="synthesise speech, timelines and face tracks")
    build.add_argument("--out", type=Path, required=True, help="the data set folder")
    build.add_argument("--minutes", type=float, required=True, help="about how much speech")
    build.add_argument("--langs", type=names, required=True, help="training languages: en,de")
    build.add_argument("--seed", type=int, default=0, help="the same seed gives the same files")
    build.add_argument("--heldout-langs", type=names, help="test-only languages (default it,pt)")
    build.add_argument("--workers", type=positive_int, help="processes (default: CPU count)")
    build.add_argument("--engines", type=names, help="speech engines (default: all installed)")
    build.add_argument("--train-engines", type=names, default=(),
                       help="engines whose voices only train, never held out (e.g. piper)")
    build.add_argument("--word-share", type=float, default=None,
                       help="share of clips that say pseudo-sentences of the language's "
                            "frequent words instead of the built-in sentences (default 0.7)")


def run_data_command(args: argparse.Namespace) -> None:
    {"build": _build, "recorded": _recorded, "takes": _takes, "report": _report,
     "align": _align}[args.data_command](args)


def _takes(args: argparse.Namespace) -> None:
    from app.data.recorded import export_takes

    enrol, check = export_takes(args.out, args.corpus, args.enrol, args.check)
    print(f"wrote {enrol} takes to {args.out / 'enrol'} and {check} to {args.out / 'check'}")


def _build(args: argparse.Namespace) -> None:
    from app.data.dataset_build import build_dataset, print_warnings
    from app.data.dataset_voices import DEFAULT_WORD_SHARE

    with _ProgressBar() as bar:
        result = build_dataset(args.out, args.minutes, args.langs, args.seed,
                               args.heldout_langs, args.engines,
                               args.workers or os.cpu_count(), bar.update,
                               args.train_engines, word_share=DEFAULT_WORD_SHARE
                               if args.word_share is None else args.word_share)
    print_warnings(result.warnings)
    print(f"wrote {result.manifest}: {result.clips} clips "
          f"({result.synthesised} synthesised now, {result.clips - result.synthesised} kept)")


class _ProgressBar:
    """A rich progress bar that appears with the first update (after the plan is made,
    so that a bad request prints only its error)."""

    def __init__(self):
        self._progress = None
        self._task = None

    def update(self, done: int, total: int) -> None:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
            )

            self._progress = Progress("[progress.description]{task.description}", BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn())
            self._progress.start()
            self._task = self._progress.add_task("clips", total=total)
        self._progress.update(self._task, completed=done, total=total)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


def _recorded(args: argparse.Namespace) -> None:
    import json

    from app.data.recorded import build_recorded

    manifest = json.loads(build_recorded(args.out, args.corpus, args.limit).read_text())
    splits = {}
    for clip in manifest["clips"]:
        splits[clip["split"]] = splits.get(clip["split"], 0) + 1
    minutes = sum(clip["duration_s"] for clip in manifest["clips"]) / 60
    print(f"{args.out}: {len(manifest['clips'])} clips of {manifest['build']['prompts']} "
          f"prompts, {minutes:.1f} minutes "
          f"({', '.join(f'{n} {split}' for split, n in sorted(splits.items()))}); "
          f"{len(manifest['build']['skipped'])} left out (see manifest.json, build.skipped)")


def _report(args: argparse.Namespace) -> None:
    from app.data.report import print_report

    print_report(args.dir, plot=args.plot, clip_id=args.clip, as_json=args.json)


def _align(args: argparse.Namespace) -> None:
    from app.data.align import align_file
    from app.data.dataset_files import timeline_to_dict, write_json, write_npy

    clip = align_file(args.audio, args.text)
    for word in clip.timeline.words:
        print(f"{word.start_s:8.3f} {word.end_s:8.3f}  {word.text}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.audio.stem
        write_json(args.out / f"{stem}.timeline.json", timeline_to_dict(clip.timeline))
        write_npy(args.out / f"{stem}.rig.npy", clip.rig.astype("float32"))
        print(f"wrote {args.out / stem}.timeline.json and {stem}.rig.npy")
