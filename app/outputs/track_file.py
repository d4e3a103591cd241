"""A face track written to a file, for animation tools: one row per 20 ms frame.

Formats (`--format`, else the path's suffix):
- `csv`: a header `time_s, <the 57 rig names>, wrinkle_<region>..., flush_<region>...`,
  then one row per frame; `time_s` is the middle of the frame's 20 ms of audio.
- `json`: the same columns as arrays, with the frame rate and the names, so a reader needs
  nothing else.
- `livelink-csv`: the layout the Live Link Face app records (app/outputs/livelink_csv.py).
- `gltf`: a .glb holding the avatar and the track as a glTF animation of its morph weights
  (and head and eye rotations), which Blender imports (app/outputs/gltf_take.py).
"""

import csv
import json
from pathlib import Path

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.rig import RIG_NAMES
from app.avatar.texture_controls import REGIONS
from app.errors import LivefaceError
from app.inference import FaceTrack
from app.outputs.livelink_csv import write_livelink_csv

FORMATS = ("csv", "json", "livelink-csv", "gltf")
SUFFIXES = {"csv": ".csv", "json": ".json", "livelink-csv": ".csv", "gltf": ".glb"}
DECIMALS = 5


def track_columns() -> list[str]:
    return (["time_s", *RIG_NAMES] + [f"wrinkle_{r}" for r in REGIONS]
            + [f"flush_{r}" for r in REGIONS])


def track_table(track: FaceTrack) -> np.ndarray:
    """(frames, columns) in `track_columns()` order."""
    time_s = (np.arange(track.frames) + 0.5) / FRAME_RATE_HZ
    return np.column_stack([time_s, track.rig, track.wrinkle, track.flush])


def track_format(path: Path, requested: str | None = None) -> str:
    """The format to write: `requested` (one of FORMATS) when given, else 'csv' or 'json'
    from the path's suffix; a clear error when the two disagree or the suffix is neither."""
    suffix = path.suffix.lower()
    if requested is None:
        by_suffix = {".csv": "csv", ".json": "json", ".glb": "gltf"}
        if suffix not in by_suffix:
            raise LivefaceError(f"cannot write a face track as '{suffix or path.name}'; use "
                                ".csv or .json (or .glb for a glTF take, or --format livelink-csv "
                                "with .csv).")
        return by_suffix[suffix]
    if requested not in FORMATS:
        raise LivefaceError(f"unknown track format '{requested}'; use one of "
                            f"{', '.join(FORMATS)}.")
    if suffix != SUFFIXES[requested]:
        raise LivefaceError(f"--format {requested} writes a {SUFFIXES[requested]} file; "
                            f"give --out a name ending in {SUFFIXES[requested]}.")
    return requested


def write_track(track: FaceTrack, path: Path, source: str = "",
                requested: str | None = None, avatar=None) -> Path:
    """Write `track` in the `requested` format, else in the one the path's suffix names;
    `avatar` (an `Avatar`) is the one a glTF take animates."""
    chosen = track_format(path, requested)
    if chosen == "gltf":
        from app.outputs.gltf_take import write_gltf_take

        if avatar is None:
            raise LivefaceError("a glTF take needs an avatar to animate.")
        return write_gltf_take(track, avatar, path, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as file:
            if chosen == "livelink-csv":
                write_livelink_csv(track.rig, file)
            elif chosen == "csv":
                writer = csv.writer(file)
                writer.writerow(track_columns())
                writer.writerows(np.round(track_table(track), DECIMALS).tolist())
            else:
                table = np.round(track_table(track), DECIMALS)
                columns = dict(zip(track_columns(), table.T.tolist()))
                json.dump({"fps": FRAME_RATE_HZ, "frames": track.frames, "source": source,
                           "columns": columns}, file)
    except OSError as err:
        raise LivefaceError(f"cannot write {path}: {err.strerror}.") from None
    return path
