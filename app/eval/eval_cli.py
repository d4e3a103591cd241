"""The `liveface eval` command: wiring between flags, data and `app.eval.evaluate`."""

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path

from platformdirs import user_cache_dir

from app.errors import LivefaceError
from app.resources import asset_path

MODEL_CARD = "model-card.json"
# the recorded corpora validation scores by default (see app.eval.evaluate)
VALIDATION_CORPORA = ("asterisk-en", "asterisk-ru")
TEST_FIGURES = "eval-test.json"  # the test split's figures of the weights beside it
PROBE_FEATURES = ("log_mel", "student_encoder", "sphinx_gmm", "log_mel+sphinx_gmm")


def add_eval_command(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="score student, teacher and offline baseline on held-out and real speech")
    parser.add_argument("--models", type=Path, help="folder of the three model bundles "
                        "(default: the shipped assets/models)")
    parser.add_argument("--data", type=Path, help="a data set built by `liveface data build` "
                        "(default: rebuild the shipped model's data set into the cache)")
    parser.add_argument("--split", choices=("val", "validation", "test"), default="val",
                        help="val (default): what every choice is made on; test: scored once "
                        "for the weights that ship, and written to MODELS/eval-test.json")
    parser.add_argument("--recorded", type=Path, action="append",
                        help="a recorded corpus as a data set, for validation (from `liveface "
                        "data recorded`; repeat for several; default: Asterisk's English and "
                        "Russian prompts, built into the cache)")
    parser.add_argument("--only", help="score only these models and baselines (comma list, "
                        "e.g. student,loudness)")
    parser.add_argument("--max-clips", type=int, default=12, help="clips per set (default 12)")
    parser.add_argument("--audio", type=Path, help="score one recording instead of the sets")
    parser.add_argument("--text", help="the words spoken in --audio (English)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--probe", action="store_true",
                        help="instead of scoring the models: how well p/b/m frames can be told "
                        "from other speech by the log-mel and by the student's audio encoder "
                        "(ROC AUC of a small classifier fit on the training split)")
    parser.add_argument("--probe-clips", type=int, default=400,
                        help="training clips the probe is fit on (default 400)")
    parser.add_argument("--lookahead-ms", type=int, default=0,
                        help="probe: audio heard past each frame, a multiple of 20 ms "
                        "(default 0, as the online models)")


def run_eval_command(args: argparse.Namespace, config=None) -> None:
    from app.data.teacher import default_geometry
    from app.eval.evaluate import eval_sets, evaluate, predictors

    models_dir = args.models or asset_path("models")
    if bool(args.audio) != bool(args.text):
        raise LivefaceError("--audio and --text go together: the words spoken in the recording.")
    split = "test" if args.split == "test" else "validation"
    if args.probe:
        data = args.data or cached_data(models_dir)
        recorded = _validation_recorded(args.recorded, split)
        results = _probe(models_dir, data, args.probe_clips, args.max_clips, args.lookahead_ms,
                         split, recorded)
        print(json.dumps(results, indent=2) if args.json else _probe_table(results))
        return
    if args.audio:
        models = _chosen(predictors(models_dir), args.only)
        results = _evaluate_recording(models, args.audio, args.text, default_geometry())
        print(json.dumps(results, indent=2) if args.json else _table(results))
        return
    data = args.data or cached_data(models_dir)
    recorded = _validation_recorded(args.recorded, split)
    models = _chosen(predictors(models_dir, data), args.only)
    results = evaluate(models, eval_sets(data, split, args.max_clips, recorded),
                       default_geometry())
    if split == "test" and args.only is None:
        written = _write_test_figures(models_dir, data, results, getattr(args, "argv", []))
        print(f"wrote {written}", file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else _table(results, args.markdown))


def _chosen(models: dict, only: str | None) -> dict:
    if only is None:
        return models
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in models]
    if unknown or not names:
        raise LivefaceError(f"--only {only}: choose among {', '.join(models)}.")
    return {n: models[n] for n in names}


def _write_test_figures(models_dir: Path, data: Path, results: dict, argv: list[str]) -> Path:
    """The test split's figures of the weights in `models_dir`, with what they came from."""
    from app.data.dataset_manifest import load_manifest
    from app.eval.evaluate import MODEL_FILES
    from app.files import write_atomic
    from app.machine import cpu_description

    record = {"split": "test", "date": datetime.date.today().isoformat(),
              "command": "liveface " + " ".join(argv),
              "machine": cpu_description(), "data_plan_hash": load_manifest(data).plan_hash,
              "models": {name: _sha256(models_dir / file) for name, file in MODEL_FILES.items()},
              "results": results}
    path = models_dir / TEST_FIGURES
    text = json.dumps(record, indent=1) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _validation_recorded(given: list[Path] | None, split: str) -> list[Path]:
    """The recorded corpora the validation split scores: those given, or the cached
    default ones; none for the test split (its recordings are `app.data.realspeech`)."""
    if split != "validation":
        return []
    return given or [cached_recorded(c) for c in VALIDATION_CORPORA]


def cached_recorded(corpus: str = "asterisk-en") -> Path:
    """A recorded corpus, aligned and animated into the user's cache (a few minutes the
    first time; then read back)."""
    from app.data.recorded import build_recorded

    out = Path(user_cache_dir("liveface")) / f"recorded-{corpus}"
    if not (out / "manifest.json").is_file():
        print(f"aligning the {corpus} corpus into {out} (once, a few minutes)", file=sys.stderr)
        build_recorded(out, corpus, log=lambda line: print(line, file=sys.stderr))
    return out


def _evaluate_recording(models, audio: Path, text: str, geometry) -> dict:
    from app.data.align import align_file
    from app.eval.evaluate import EvalClip, score

    aligned = align_file(audio, text)
    clip = EvalClip(audio.stem, aligned.audio, aligned.timeline, aligned.rig)
    return {name: score(predict, [clip], geometry) for name, predict in models.items()}


def _probe(models_dir: Path, data: Path, train_clips: int, max_clips: int,
           lookahead_ms: int, split: str, recorded: list[Path]) -> dict:
    from app.checkpoints import STUDENT_FILE, load_parts
    from app.eval.probe import Featuriser, probe_aucs, probe_sets, training_clips

    if lookahead_ms < 0 or lookahead_ms % 20:
        raise LivefaceError(f"--lookahead-ms {lookahead_ms}: give a multiple of 20 ms, 0 or more.")
    if train_clips < 2:
        raise LivefaceError("--probe-clips: the probe needs at least 2 training clips.")
    student = load_parts(models_dir / STUDENT_FILE)
    lookahead = lookahead_ms // 20
    train = training_clips(data, train_clips)
    sets = probe_sets(data, max_clips, split, recorded)
    config = student.config
    featurisers = {"log_mel": Featuriser(config, None, lookahead),
                   "student_encoder": Featuriser(config, student.encoder, lookahead),
                   "sphinx_gmm": Featuriser(config, None, lookahead, sphinx=True, with_mel=False),
                   "log_mel+sphinx_gmm": Featuriser(config, None, lookahead, sphinx=True)}
    return {"lookahead_ms": lookahead_ms, "training_clips": len(train), "split": split,
            **{name: probe_aucs(train, sets, featurise)
               for name, featurise in featurisers.items()}}


def _probe_table(results: dict) -> str:
    sets = list(results["log_mel"])
    title = (f"p/b/m against other speech, ROC AUC ({results['training_clips']} training "
             f"clips, {results['lookahead_ms']} ms look-ahead, {results['split']} split)")
    lines = [title,
             f"{'features':18s} " + " ".join(f"{s:>18s}" for s in sets)]
    for name in PROBE_FEATURES:
        lines.append(f"{name:18s} " + " ".join(f"{results[name][s]:>18}" for s in sets))
    return "\n".join(lines)


def cached_data(models_dir: Path) -> Path:
    """The shipped model's data set, rebuilt (deterministically) into the user's cache."""
    from app.data.dataset import legacy_arguments
    from app.data.dataset_build import build_dataset

    card_path = models_dir / MODEL_CARD
    if not card_path.is_file():
        raise LivefaceError(f"{card_path} is missing; pass --data DIR (a data set whose test "
                            "split the models never trained on).")
    data = json.loads(card_path.read_text())["data"]
    build = data["build"]
    key = hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:12]
    out = Path(user_cache_dir("liveface")) / f"eval-data-{key}"
    later = legacy_arguments(build)
    build_dataset(out, build["minutes"], tuple(build["langs"]), build["seed"],
                  tuple(build["heldout_langs"]), tuple(build["engines"]),
                  train_engines=tuple(later["train_engines"]),
                  by_speaker=bool(later["by_speaker"]), word_share=float(later["word_share"]),
                  voices=tuple(later["voices"]), expect_plan=data.get("plan_hash"))
    return out


def _table(results: dict, markdown: bool = False) -> str:
    """One row per model and set: the figures, then the pooled closure counts (the
    headline: closed / phones over all clips of the set). Per-clip rates are in --json."""
    shown = ("lve_mm", "mve_mm", "fdd", "lag_ms", "jitter")
    counts = (("p/b/m closed", "bilabial_closed", "bilabial_phones"),
              ("vowels shut", "vowels_closed", "vowels"),
              ("silences closed", "silences_closed", "silences"))
    header = ["model", "set", *shown, *(title for title, _, _ in counts)]
    rows = []
    for model, sets in results.items():
        items = sets.items() if all(isinstance(v, dict) for v in sets.values()) else [("clip", sets)]
        for set_name, figures in items:
            rows.append([model, set_name, *(_cell(figures[m]) for m in shown),
                         *(_count(figures[part], figures[whole]) for _, part, whole in counts)])
    if markdown:
        return "\n".join("| " + " | ".join(row) + " |"
                         for row in [header, ["---"] * len(header), *rows])
    widths = (16, 17, *(7,) * len(shown), *(17,) * len(counts))
    return "\n".join(" ".join(f"{cell:<{w}s}" if i < 2 else f"{cell:>{w}s}"
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                      for row in [header, *rows])


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _count(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f}%)" if whole else "0 of 0"
