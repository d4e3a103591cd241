"""`liveface animate`: the face track as CSV or JSON, read back as a tool would."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.avatar.rig import RIG_INDEX, RIG_NAMES, RIG_SIZE
from app.avatar.texture_controls import NUM_REGIONS
from app.errors import LivefaceError
from app.inference import FaceTrack
from app.outputs.track_file import track_columns, write_track
from app.resources import asset_path

REPO = Path(__file__).resolve().parents[1]


def a_track(frames: int = 7) -> FaceTrack:
    rng = np.random.default_rng(0)
    return FaceTrack(rng.uniform(0, 1, (frames, RIG_SIZE)).astype(np.float32),
                     rng.uniform(0, 1, (frames, NUM_REGIONS)).astype(np.float32),
                     rng.uniform(0, 1, (frames, NUM_REGIONS)).astype(np.float32))


def test_csv_and_json_hold_the_same_columns(tmp_path):
    track = a_track()
    with (write_track(track, tmp_path / "t.csv")).open() as file:
        rows = list(csv.reader(file))
    assert rows[0] == track_columns() and len(rows) == track.frames + 1
    assert rows[0][1:RIG_SIZE + 1] == list(RIG_NAMES)
    table = np.array(rows[1:], float)
    np.testing.assert_allclose(table[:, 0], (np.arange(7) + 0.5) / 50)
    np.testing.assert_allclose(table[:, 1:RIG_SIZE + 1], track.rig, atol=1e-5)
    data = json.loads(write_track(track, tmp_path / "t.json", source="x.wav").read_text())
    assert data["fps"] == 50 and data["frames"] == 7 and data["source"] == "x.wav"
    np.testing.assert_allclose(data["columns"]["jawOpen"], track.rig[:, RIG_INDEX["jawOpen"]],
                               atol=1e-5)
    np.testing.assert_allclose(data["columns"]["flush_cheeks"], table[:, -2], atol=1e-9)
    with pytest.raises(LivefaceError, match=".csv or .json"):
        write_track(track, tmp_path / "t.fbx")


def test_animate_writes_the_shipped_models_track(tmp_path):
    out = tmp_path / "track.csv"
    result = subprocess.run([sys.executable, "-m", "app.cli", "animate", "--audio",
                             str(asset_path("audio", "sample.wav")), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    with out.open() as file:
        rows = list(csv.reader(file))
    jaw = np.array([float(row[1 + RIG_INDEX["jawOpen"]]) for row in rows[1:]])
    assert len(jaw) > 100 and np.isfinite(jaw).all() and jaw.max() - jaw.min() > 0.2
    bad = subprocess.run([sys.executable, "-m", "app.cli", "animate", "--audio",
                          str(tmp_path / "none.wav"), "--out", str(tmp_path / "t.csv")],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
