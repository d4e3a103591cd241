"""`liveface animate --format livelink-csv`: the Live Link Face app's CSV layout, read back
with the csv module as an importer would."""

import csv
import re

import numpy as np
import pytest

from app.avatar.rig import RIG_INDEX, RIG_SIZE
from app.avatar.texture_controls import NUM_REGIONS
from app.errors import LivefaceError
from app.inference import FaceTrack
from app.outputs.livelink_csv import timecode
from app.outputs.track_file import write_track

# The header the Live Link Face app writes, spelt out here rather than imported.
APP_COLUMNS = [
    "Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft",
    "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight",
    "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft",
    "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft",
    "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower",
    "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut", "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw",
    "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
]
TIMECODE = re.compile(r"^(\d\d):([0-5]\d):([0-5]\d):(\d\d)\.(\d\d\d)$")


def a_track(frames: int) -> FaceTrack:
    rng = np.random.default_rng(1)
    rig = rng.uniform(0, 1, (frames, RIG_SIZE)).astype(np.float32)
    rig[:, 52:] = rng.uniform(-0.5, 0.5, (frames, RIG_SIZE - 52))  # angles in radians
    return FaceTrack(rig, np.zeros((frames, NUM_REGIONS), np.float32),
                     np.zeros((frames, NUM_REGIONS), np.float32))


def read_rows(path) -> list[list[str]]:
    with path.open(newline="") as file:
        return list(csv.reader(file))


def frame_number(code: str, fps: int = 50) -> int:
    hours, minutes, seconds, frames, sub = TIMECODE.match(code).groups()
    assert sub == "000" and int(frames) < fps
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * fps + int(frames)


def test_the_file_has_the_apps_columns_and_the_rigs_values(tmp_path):
    track = a_track(3100)  # over a minute: seconds and minutes roll over
    rows = read_rows(write_track(track, tmp_path / "take.csv", requested="livelink-csv"))
    assert rows[0] == APP_COLUMNS and len(APP_COLUMNS) == 2 + 61
    assert len(rows) == track.frames + 1
    codes = [row[0] for row in rows[1:]]
    assert all(TIMECODE.match(code) for code in codes)
    numbers = [frame_number(code) for code in codes]
    assert numbers == list(range(track.frames))  # monotonic, one frame apart, from zero
    assert codes[0] == "00:00:00:00.000" and codes[51] == "00:00:01:01.000"
    assert codes[3000] == "00:01:00:00.000"
    assert all(row[1] == "61" and len(row) == len(APP_COLUMNS) for row in rows[1:])
    table = np.array([row[2:] for row in rows[1:]], float)
    column = {name: i for i, name in enumerate(APP_COLUMNS[2:])}
    for name in APP_COLUMNS[2:54]:  # each curve is the rig's weight of the same shape
        rig_name = name[0].lower() + name[1:]
        np.testing.assert_allclose(table[:, column[name]], track.rig[:, RIG_INDEX[rig_name]],
                                   atol=1e-6, err_msg=name)
    for name, rig_name in (("HeadYaw", "headYaw"), ("HeadPitch", "headPitch"),
                           ("HeadRoll", "headRoll"), ("LeftEyeYaw", "gazeYaw"),
                           ("RightEyeYaw", "gazeYaw"), ("LeftEyePitch", "gazePitch"),
                           ("RightEyePitch", "gazePitch")):  # radians, as the rig holds them
        np.testing.assert_allclose(table[:, column[name]], track.rig[:, RIG_INDEX[rig_name]],
                                   atol=1e-6, err_msg=name)
    assert not table[:, column["LeftEyeRoll"]].any() and not table[:, column["RightEyeRoll"]].any()


def test_timecodes_and_wrong_names(tmp_path):
    assert timecode(0) == "00:00:00:00.000"
    assert timecode(49) == "00:00:00:49.000"
    assert timecode(50 * 3600 + 50 * 61 + 7) == "01:01:01:07.000"
    assert timecode(30, fps=60) == "00:00:00:30.000"
    with pytest.raises(LivefaceError, match="ending in .csv"):
        write_track(a_track(2), tmp_path / "take.json", requested="livelink-csv")
    with pytest.raises(LivefaceError, match="unknown track format"):
        write_track(a_track(2), tmp_path / "take.csv", requested="fbx")
    assert not (tmp_path / "take.json").exists()


def test_animate_takes_the_format(tmp_path, monkeypatch):
    """The command line: --format livelink-csv writes the app's layout; a wrong suffix is
    an error before any model runs; without --format the old CSV stays."""
    from app import cli

    track = a_track(10)
    monkeypatch.setattr(cli, "_speech_track", lambda args: (None, track))
    out = tmp_path / "take.csv"
    assert cli.main(["animate", "--audio", "x.wav", "--out", str(out),
                     "--format", "livelink-csv"]) == 0
    assert read_rows(out)[0] == APP_COLUMNS and len(read_rows(out)) == 11
    assert cli.main(["animate", "--audio", "x.wav", "--out", str(out)]) == 0
    assert read_rows(out)[0][:2] == ["time_s", "eyeBlinkLeft"]

    def no_model(args):
        raise AssertionError("the model ran before the format was checked")

    monkeypatch.setattr(cli, "_speech_track", no_model)
    assert cli.main(["animate", "--audio", "x.wav", "--out", str(tmp_path / "t.json"),
                     "--format", "livelink-csv"]) == 2
