"""`liveface data report`: how much speech a data set holds per language, voice, emotion,
split and engine, and a plot of one clip (waveform, phones, main blendshape curves).

Every clip's files are checked first (present, readable, the shapes the manifest says), so
a report on a damaged data set names the damaged files instead of printing numbers.
"""

import json
import wave
from collections import defaultdict
from pathlib import Path

import numpy as np

from app.audio.contract import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from app.avatar.rig import RIG_INDEX, RIG_SIZE
from app.data.dataset_files import timeline_from_dict
from app.data.dataset_manifest import Manifest, ManifestEntry, load_manifest
from app.data.timeline import SILENCE, Timeline
from app.errors import LivefaceError

GROUPS = ("language", "voice", "emotion", "split", "engine")
PLOT_CURVES = ("jawOpen", "mouthClose", "mouthPucker", "mouthFunnel", "eyeBlinkLeft",
               "browInnerUp")
_MAX_NAMED = 10  # damaged files named in one error


def print_report(root: Path, plot: Path | None = None, clip_id: str | None = None,
                 as_json: bool = False) -> dict:
    """Check the data set, print its summary (tables or JSON), write the plot if asked."""
    manifest = load_manifest(root)
    check_files(manifest)
    summary = summarize(manifest)
    if plot is not None:
        entry = _pick_clip(manifest, clip_id)
        plot_clip(manifest, entry, plot)
        summary["plot"] = {"path": str(plot), "clip": entry.id}
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_tables(summary)
    return summary


def check_files(manifest: Manifest) -> None:
    """A LivefaceError naming every missing or unreadable clip file (up to a few)."""
    problems = []
    for entry in manifest.clips:
        problems += _clip_problems(manifest, entry)
    if problems:
        shown = "; ".join(problems[:_MAX_NAMED])
        more = f" and {len(problems) - _MAX_NAMED} more" if len(problems) > _MAX_NAMED else ""
        raise LivefaceError(f"{manifest.root} has missing or corrupt clip files: {shown}{more}; "
                            "rerun the build with the same arguments to repair it.")


def _clip_problems(manifest: Manifest, entry: ManifestEntry) -> list[str]:
    problems = []
    for relative in (entry.audio, entry.timeline, entry.rig, entry.meta):
        if not manifest.path(relative).is_file():
            problems.append(f"{relative} is missing")
    if problems:
        return problems
    checks = ((entry.audio, _check_wav), (entry.timeline, _check_timeline),
              (entry.rig, _check_rig))
    for relative, check in checks:
        try:
            check(manifest.path(relative), entry)
        except (OSError, ValueError, KeyError, TypeError, EOFError, wave.Error) as err:
            problems.append(f"{relative} is corrupt ({err})")
    return problems


def _check_wav(path: Path, entry: ManifestEntry) -> None:
    with wave.open(str(path), "rb") as wav:
        if wav.getframerate() != SAMPLE_RATE_HZ or wav.getnchannels() != 1:
            raise ValueError("not mono 16 kHz")
        if len(wav.readframes(wav.getnframes())) != 2 * wav.getnframes():
            raise ValueError("truncated")
        if abs(wav.getnframes() / SAMPLE_RATE_HZ - entry.duration_s) > 1e-3:
            raise ValueError("length differs from the manifest")


def _check_timeline(path: Path, entry: ManifestEntry) -> None:
    timeline_from_dict(json.loads(path.read_text()))


def _check_rig(path: Path, entry: ManifestEntry) -> None:
    rig = np.load(path, allow_pickle=False)
    if rig.shape != (entry.frames, RIG_SIZE) or not np.isfinite(rig).all():
        raise ValueError(f"shape {rig.shape}, expected ({entry.frames}, {RIG_SIZE})")


def summarize(manifest: Manifest) -> dict:
    """{"total": {clips, hours}, "by_language": {key: {clips, hours}}, ...}."""
    summary: dict = {"root": str(manifest.root), "build": manifest.build,
                     "total": {"clips": len(manifest.clips),
                               "hours": sum(e.duration_s for e in manifest.clips) / 3600}}
    for group in GROUPS:
        table: dict = defaultdict(lambda: {"clips": 0, "hours": 0.0})
        for entry in manifest.clips:
            row = table[_group_key(entry, group)]
            row["clips"] += 1
            row["hours"] += entry.duration_s / 3600
        summary[f"by_{group}"] = dict(sorted(table.items()))
    return summary


def _group_key(entry: ManifestEntry, group: str) -> str:
    if group == "voice":
        return f"{entry.engine}:{entry.voice}"
    if group == "split" and entry.heldout:
        return f"{entry.split} ({entry.heldout})"
    return str(getattr(entry, group))


def _print_tables(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    total = summary["total"]
    console.print(f"{summary['root']}: {total['clips']} clips, {total['hours']:.4f} h "
                  f"({total['hours'] * 60:.2f} min)")
    for group in GROUPS:
        table = Table(title=f"by {group}", title_justify="left")
        for column in (group, "clips", "hours", "minutes"):
            table.add_column(column, justify="left" if column == group else "right")
        for key, row in summary[f"by_{group}"].items():
            table.add_row(key, str(row["clips"]), f"{row['hours']:.4f}",
                          f"{row['hours'] * 60:.2f}")
        console.print(table)
    if "plot" in summary:
        console.print(f"wrote {summary['plot']['path']} (clip {summary['plot']['clip']})")


def _pick_clip(manifest: Manifest, clip_id: str | None) -> ManifestEntry:
    if not manifest.clips:
        raise LivefaceError(f"{manifest.root} holds no clips to plot.")
    if clip_id is None:
        return manifest.clips[0]
    for entry in manifest.clips:
        if entry.id == clip_id:
            return entry
    raise LivefaceError(f"no clip '{clip_id}' in {manifest.root}; "
                        f"for example: {', '.join(e.id for e in manifest.clips[:5])}.")


def plot_clip(manifest: Manifest, entry: ManifestEntry, out: Path) -> None:
    """A PNG: waveform, phone segments with labels, and the main blendshape curves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from app.audio.io import read_audio

    audio = read_audio(manifest.path(entry.audio))
    timeline = timeline_from_dict(json.loads(manifest.path(entry.timeline).read_text()))
    rig = np.load(manifest.path(entry.rig), allow_pickle=False)
    figure = Figure(figsize=(12, 7), dpi=100)
    FigureCanvasAgg(figure)
    wave_ax, phone_ax, curve_ax = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [2, 0.6, 3]})
    wave_ax.plot(np.arange(len(audio)) / SAMPLE_RATE_HZ, audio, linewidth=0.4, color="0.25")
    wave_ax.set_ylabel("audio")
    wave_ax.set_title(f"{entry.id}: {entry.language}, {entry.engine} {entry.voice}, "
                      f"{entry.emotion} {entry.intensity:.2f}, {entry.split}")
    _draw_phones(phone_ax, timeline)
    times = np.arange(len(rig)) / FRAME_RATE_HZ
    for name in PLOT_CURVES:
        curve_ax.plot(times, rig[:, RIG_INDEX[name]], label=name, linewidth=1.2)
    curve_ax.set_ylabel("weight")
    curve_ax.set_xlabel("time (s)")
    curve_ax.legend(loc="upper right", fontsize=8, ncol=3)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")


def _draw_phones(ax, timeline: Timeline) -> None:
    for index, phone in enumerate(timeline.phones):
        if phone.phone == SILENCE:
            continue
        ax.axvspan(phone.start_s, phone.end_s, color=("C0", "C1")[index % 2], alpha=0.25)
        ax.text(0.5 * (phone.start_s + phone.end_s), 0.5, phone.phone, ha="center",
                va="center", fontsize=7)
    ax.set_yticks([])
    ax.set_ylabel("phones")
