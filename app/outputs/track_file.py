"""A face track written to a file, for animation tools: one row per 20 ms frame.

CSV: a header `time_s, <the 57 rig names>, wrinkle_<region>..., flush_<region>...`, then
one row per frame; `time_s` is the middle of the frame's 20 ms of audio. JSON: the same
columns as arrays, with the frame rate and the names, so a reader needs nothing else.
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

FORMATS = (".csv", ".json")
DECIMALS = 5


def track_columns() -> list[str]:
    return (["time_s", *RIG_NAMES] + [f"wrinkle_{r}" for r in REGIONS]
            + [f"flush_{r}" for r in REGIONS])


def track_table(track: FaceTrack) -> np.ndarray:
    """(frames, columns) in `track_columns()` order."""
    time_s = (np.arange(track.frames) + 0.5) / FRAME_RATE_HZ
    return np.column_stack([time_s, track.rig, track.wrinkle, track.flush])


def track_format(path: Path) -> str:
    """'.csv' or '.json' from the path; a clear error for anything else."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise LivefaceError(f"cannot write a face track as '{suffix or path.name}'; use "
                            f"{' or '.join(FORMATS)}.")
    return suffix


def write_track(track: FaceTrack, path: Path, source: str = "") -> Path:
    """Write `track` as CSV or JSON, by the path's suffix."""
    suffix = track_format(path)
    table = np.round(track_table(track), DECIMALS)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as file:
            if suffix == ".csv":
                writer = csv.writer(file)
                writer.writerow(track_columns())
                writer.writerows(table.tolist())
            else:
                columns = dict(zip(track_columns(), table.T.tolist()))
                json.dump({"fps": FRAME_RATE_HZ, "frames": track.frames, "source": source,
                           "columns": columns}, file)
    except OSError as err:
        raise LivefaceError(f"cannot write {path}: {err.strerror}.") from None
    return path
