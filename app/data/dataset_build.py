"""`liveface data build`: check the request, plan, synthesise clips in parallel, write the manifest.

    result = build_dataset(Path("d"), minutes=2, langs=("en", "de"), seed=0)

Clips are synthesised over worker processes (one clip = speech engine + teacher + four
files written atomically). A second run with the same arguments skips complete clips and
finishes the rest; a run with other arguments into the same folder is refused. On any
error or Ctrl-C the files of unfinished clips are removed, so the folder holds only
complete clips and either no manifest or the one of an earlier complete build.
"""

import json
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from app.data.dataset import (
    LATER_RULES,
    BuildArgs,
    ClipSpec,
    build_dict,
    plan_clips,
    plan_hash,
    spec_hash,
    spec_to_dict,
)
from app.data.dataset_files import (
    clip_paths,
    is_complete,
    sweep_partial,
    timeline_to_dict,
    write_audio,
    write_json,
    write_npy,
)
from app.data.dataset_manifest import BUILD_NAME, CLIPS_DIR, FORMAT, write_manifest
from app.data.dataset_voices import (
    DEFAULT_WORD_SHARE,
    pool_ids,
    resolve_request,
    voice_pools,
)
from app.data.speech import get_engine
from app.data.teacher import Style, animate
from app.errors import LivefaceError


@dataclass(frozen=True)
class BuildResult:
    manifest: Path
    clips: int
    synthesised: int  # clips made by this run (the rest were already complete)
    warnings: tuple[str, ...]


def build_dataset(out: Path, minutes: float, langs: tuple[str, ...], seed: int,
                  heldout_langs: tuple[str, ...] | None = None,
                  engines: tuple[str, ...] | None = None, workers: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  train_engines: tuple[str, ...] = (), by_speaker: bool = True,
                  word_share: float = DEFAULT_WORD_SHARE,
                  voices: tuple[str, ...] | None = None,
                  expect_plan: str | None = None) -> BuildResult:
    """Build (or finish) the data set in `out`; `progress(done, total)` after each clip.
    `by_speaker=False, word_share=0` rebuild a data set made before splits kept speakers
    together and before word-list text; a folder started before then is finished with the
    rules it was started with. `voices`: the "engine/voice" list to draw from (a rebuild
    passes its build's list); None records every installed voice, () leaves the build
    unpinned as builds before the list were. `expect_plan`: the plan hash a rebuild must
    reproduce; a different plan is refused before any file is written."""
    out = Path(out)
    started = _started_without(out)
    by_speaker = by_speaker and "by_speaker" not in started
    word_share = 0.0 if "word_share" in started else word_share
    if voices is None:
        voices = () if "voices" in started else None
    args, warnings = resolve_request(minutes, langs, seed, heldout_langs, engines, train_engines,
                                     by_speaker, word_share, voices or ())
    pools = voice_pools(args)
    if voices is None:
        args = replace(args, voices=pool_ids(pools))
    specs = plan_clips(args, pools)
    phash = plan_hash(args, specs)
    if expect_plan is not None and phash != expect_plan:
        raise LivefaceError(
            f"the speech engines and voices installed here plan another data set than the "
            f"expected one (plan {phash[:12]}, expected {expect_plan[:12]}), so its test "
            "split would not hold out what the model's did; score a data set of your own "
            "with --data DIR, or install exactly the engines' voices the model card lists.")
    prepare_out_dir(out, args, phash)
    clips_dir = out / CLIPS_DIR
    complete = complete_ids(clips_dir, specs)
    sweep_partial(clips_dir, complete)
    todo = [s for s in specs if s.id not in complete]
    done = len(complete)
    report = progress or (lambda done, total: None)
    report(done, len(specs))
    try:
        synthesize_all(todo, clips_dir, workers or os.cpu_count() or 1,
                       lambda finished: report(done + finished, len(specs)))
    except BaseException:
        sweep_partial(clips_dir, complete_ids(clips_dir, specs))
        raise
    manifest = write_manifest(out, args, phash, specs)
    return BuildResult(manifest, len(specs), len(todo), warnings)


def _started_without(out: Path) -> frozenset[str]:
    """The later rules (`LATER_RULES`) that a build begun in `out` before they existed
    lacks: it is finished with their legacy values."""
    try:
        build = json.loads((out / BUILD_NAME).read_text())["build"]
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()  # no build there, or a corrupt one that prepare_out_dir reports
    if not isinstance(build, dict):
        return frozenset()
    return frozenset(name for name in LATER_RULES if name not in build)


def complete_ids(clips_dir: Path, specs: list[ClipSpec]) -> set[str]:
    return {s.id for s in specs if is_complete(clips_dir, s.id, spec_hash(s))}


def prepare_out_dir(out: Path, args: BuildArgs, phash: str) -> None:
    """Create `out` or accept it for resuming; refuse foreign or differently built folders."""
    build_file = out / BUILD_NAME
    if out.exists() and not out.is_dir():
        raise LivefaceError(f"{out} is a file; give a folder for the data set.")
    if build_file.is_file():
        _check_same_build(out, build_file, args, phash)
    elif out.exists() and any(out.iterdir()):
        raise LivefaceError(f"{out} is not empty and holds no liveface data set ({BUILD_NAME}); "
                            "choose a new or empty folder.")
    (out / CLIPS_DIR).mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, "build": build_dict(args), "plan_hash": phash},
                      indent=1, sort_keys=True) + "\n"
    build_file.write_text(text)


def _check_same_build(out: Path, build_file: Path, args: BuildArgs, phash: str) -> None:
    try:
        stored = json.loads(build_file.read_text())
    except ValueError:
        raise LivefaceError(f"{build_file} is corrupt; build into a new folder.") from None
    wanted = json.loads(json.dumps(build_dict(args)))
    if stored.get("build") != wanted:
        raise LivefaceError(
            f"{out} was built with other arguments ({_describe(stored.get('build'))}); "
            "rerun with those to resume it, or choose a new folder.")
    if stored.get("plan_hash") != phash:
        raise LivefaceError(f"{out} was planned with other installed voices or code; "
                            "build into a new folder.")


def _describe(build: dict | None) -> str:
    if not isinstance(build, dict):
        return "unknown"
    return ", ".join(f"{key}={value}" for key, value in sorted(build.items()))


def synthesize_all(specs: list[ClipSpec], clips_dir: Path, workers: int,
                   advance: Callable[[int], None]) -> None:
    """Make every clip; in this process for one worker, else over a process pool."""
    if workers <= 1 or len(specs) <= 1:
        for finished, spec in enumerate(specs, 1):
            make_clip(spec, clips_dir)
            advance(finished)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts)
    try:
        pending = {pool.submit(make_clip, spec, clips_dir) for spec in specs}
        finished = 0
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # re-raises a worker's error here
            finished += len(done)
            advance(finished)
    finally:
        # cancel what has not started and let running clips finish, so no worker
        # writes after the caller has swept unfinished files
        pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the main process, which cancels and cleans up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_clip(spec: ClipSpec, clips_dir: Path) -> str:
    """Synthesise one clip, animate it with the teacher and write its four files."""
    try:
        clip = _engine(spec.engine).synthesize(spec.text, spec.language, spec.voice, spec.prosody)
        rig = animate(clip.timeline, clip.audio, spec.emotion, spec.intensity,
                      Style.draw(spec.style_seed), seed=spec.style_seed)
    except LivefaceError as err:
        raise LivefaceError(f"clip {spec.id} ({spec.engine} voice {spec.voice}): {err}") from None
    paths = clip_paths(clips_dir, spec.id)
    write_audio(paths["audio"], clip.audio)
    write_json(paths["timeline"], timeline_to_dict(clip.timeline))
    write_npy(paths["rig"], rig)
    write_json(paths["meta"], {
        "spec": spec_to_dict(spec), "spec_hash": spec_hash(spec), "samples": len(clip.audio),
        "frames": int(rig.shape[0]), "duration_s": round(clip.duration_s, 6),
    })
    return spec.id


@cache
def _engine(name: str):
    return get_engine(name)


def print_warnings(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        print(f"liveface: warning: {warning}", file=sys.stderr)
