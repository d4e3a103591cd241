"""One clip's files on disk: written atomically, checked for completeness, swept when partial.

Every file is first written under a temporary name in the same folder and then renamed,
so a reader never sees half a file; the clip's metadata JSON is renamed last, which makes
it the mark of a complete clip (see `app.data.dataset` for the layout).
"""

import json
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import write_wav
from app.data.timeline import Phone, Timeline, Word
from app.files import TMP_MARK, write_atomic

SUFFIXES = {"audio": ".wav", "timeline": ".timeline.json", "rig": ".rig.npy", "meta": ".json"}


def clip_paths(clips_dir: Path, clip_id: str) -> dict[str, Path]:
    return {kind: clips_dir / f"{clip_id}{suffix}" for kind, suffix in SUFFIXES.items()}


def write_json(path: Path, data) -> None:
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_audio(path: Path, audio: np.ndarray) -> None:
    write_atomic(path, lambda tmp: write_wav(tmp, audio, SAMPLE_RATE_HZ))


def write_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:  # a file object: np.save would append ".npy" to a name
            np.save(out, array, allow_pickle=False)

    write_atomic(path, write)


def timeline_to_dict(timeline: Timeline) -> dict:
    return {
        "language": timeline.language,
        "duration_s": timeline.duration_s,
        "phones": [[p.start_s, p.end_s, p.phone, p.stress] for p in timeline.phones],
        "words": [[w.start_s, w.end_s, w.text] for w in timeline.words],
    }


def timeline_from_dict(data: dict) -> Timeline:
    phones = tuple(Phone(float(s), float(e), str(p), int(k)) for s, e, p, k in data["phones"])
    words = tuple(Word(float(s), float(e), str(t)) for s, e, t in data["words"])
    return Timeline(phones, words, data["language"], float(data["duration_s"]))


def read_meta(path: Path) -> dict | None:
    """A clip's metadata, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_complete(clips_dir: Path, clip_id: str, expected_hash: str) -> bool:
    """All four files exist and the metadata was written for this very spec."""
    paths = clip_paths(clips_dir, clip_id)
    meta = read_meta(paths["meta"])
    return (meta is not None and meta.get("spec_hash") == expected_hash
            and all(p.is_file() for p in paths.values()))


def sweep_partial(clips_dir: Path, complete_ids: set[str]) -> list[Path]:
    """Delete temporary files and the files of clips that are not complete."""
    removed = []
    if not clips_dir.is_dir():
        return removed
    for path in sorted(clips_dir.iterdir()):
        clip_id = path.name.split(".", 1)[0]
        if TMP_MARK in path.name or clip_id not in complete_ids:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
