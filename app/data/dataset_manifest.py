"""The manifest of a built data set: one typed entry per clip (format in `app.data.dataset`)."""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from app.audio.contract import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from app.avatar.rig import RIG_NAMES
from app.data.dataset import BuildArgs, ClipSpec, build_dict
from app.data.dataset_files import clip_paths, read_meta, write_json
from app.errors import LivefaceError

FORMAT = "liveface-dataset/1"
MANIFEST_NAME = "manifest.json"
BUILD_NAME = "build.json"
CLIPS_DIR = "clips"


@dataclass(frozen=True)
class ManifestEntry:
    id: str
    audio: str  # paths relative to the data set folder
    timeline: str
    rig: str
    meta: str
    language: str
    voice: str
    engine: str
    voice_licence: str
    emotion: str
    intensity: float
    duration_s: float
    frames: int
    split: str
    heldout: str | None
    text: str
    style_seed: int


@dataclass(frozen=True)
class Manifest:
    root: Path
    build: dict
    plan_hash: str
    clips: tuple[ManifestEntry, ...]

    def path(self, relative: str) -> Path:
        return self.root / relative


def entry_for(root: Path, spec: ClipSpec) -> ManifestEntry:
    """The entry of a complete clip, from its spec and its metadata file."""
    paths = {kind: path.relative_to(root).as_posix()
             for kind, path in clip_paths(root / CLIPS_DIR, spec.id).items()}
    meta = read_meta(root / paths["meta"])
    if meta is None:
        raise LivefaceError(f"clip {spec.id} has no readable metadata {paths['meta']}; "
                            "run the build again to finish it.")
    return ManifestEntry(
        id=spec.id, **paths, language=spec.language, voice=spec.voice, engine=spec.engine,
        voice_licence=spec.voice_licence, emotion=spec.emotion, intensity=spec.intensity,
        duration_s=meta["duration_s"], frames=meta["frames"], split=spec.split,
        heldout=spec.heldout, text=spec.text, style_seed=spec.style_seed,
    )


def write_manifest(root: Path, args: BuildArgs, phash: str, specs: list[ClipSpec]) -> Path:
    data = {
        "format": FORMAT, "build": build_dict(args), "plan_hash": phash,
        "sample_rate_hz": SAMPLE_RATE_HZ, "frame_rate_hz": FRAME_RATE_HZ,
        "rig_names": list(RIG_NAMES),
        "clips": [asdict(entry_for(root, spec)) for spec in specs],
    }
    write_json(root / MANIFEST_NAME, data)
    return root / MANIFEST_NAME


def load_manifest(root: Path) -> Manifest:
    """A data set's manifest; a clear error when it is missing or malformed."""
    root = Path(root)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise LivefaceError(f"{root} has no {MANIFEST_NAME}; build it with "
                            f"`liveface data build --out {root} ...` (an unfinished build "
                            "writes it when the build completes).")
    try:
        data = json.loads(path.read_text())
        names = {f.name for f in fields(ManifestEntry)}
        clips = tuple(ManifestEntry(**{k: c[k] for k in names}) for c in data["clips"])
        return Manifest(root, data["build"], data["plan_hash"], clips)
    except (ValueError, KeyError, TypeError) as err:
        raise LivefaceError(f"{path} is not a liveface data set manifest ({err}); "
                            "build the data set again.") from None
