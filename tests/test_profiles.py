"""Profiles: saved whole or not at all, damaged ones reported and ignored."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.errors import LivefaceError
from app.profiles import Profile, load_profile, read_profile, save_profile


def test_a_profile_comes_back_as_it_was_saved(tmp_path):
    assert read_profile("me", tmp_path) is None
    save_profile(Profile("me", {"microphone": "USB mic"}, b"first"), tmp_path)
    version = save_profile(Profile("me", {"microphone": "Headset", "n": 2}, b"second"), tmp_path)
    profile = read_profile("me", tmp_path)
    assert profile.settings == {"microphone": "Headset", "n": 2} and profile.voice == b"second"
    assert profile.folder == version
    assert [p.name for p in (tmp_path / "me").glob("v-*")] == [version.name]  # old one gone
    assert read_profile("someone-else", tmp_path) is None


def test_profile_names_are_checked(tmp_path):
    with pytest.raises(LivefaceError, match="profile name"):
        save_profile(Profile("../escape"), tmp_path)


def test_a_damaged_profile_is_reported_and_ignored(tmp_path, capsys):
    version = save_profile(Profile("me", {"a": 1}), tmp_path)
    (version / "profile.json").write_text("{ not json")
    with pytest.raises(LivefaceError, match="damaged"):
        read_profile("me", tmp_path)
    assert load_profile("me", tmp_path) is None
    assert "damaged" in capsys.readouterr().err
    (tmp_path / "me" / "current").write_text("v-missing\n")
    assert load_profile("me", tmp_path) is None


_SAVER = """
import hashlib, os, sys
from pathlib import Path
from app.profiles import Profile, save_profile
root, n = Path(sys.argv[1]), 0
while True:
    voice = os.urandom(4_000_000)
    save_profile(Profile("me", {"n": n, "sha256": hashlib.sha256(voice).hexdigest()}, voice),
                 root)
    print(n, flush=True)
    n += 1
"""


def test_a_save_killed_at_any_moment_leaves_a_whole_profile(tmp_path):
    """A process saving again and again is killed at random moments; every time, the
    profile read back is one whole save: its voice is the one its settings describe."""
    rng = random.Random(7)
    seen = set()
    for _ in range(6):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(tmp_path)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert saver.stdout.readline().strip().isdigit()  # one save has finished
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            os.kill(saver.pid, signal.SIGKILL)
            saver.wait()
        profile = read_profile("me", tmp_path)
        assert hashlib.sha256(profile.voice).hexdigest() == profile.settings["sha256"]
        seen.add(profile.settings["sha256"])
    assert len(seen) == 6  # each run saved anew: the kills did land among the saves


def _live_args(*flags):
    import argparse

    from app.live.cli_common import add_live_arguments

    parser = argparse.ArgumentParser()
    add_live_arguments(parser)
    parser.add_argument("--screenshot")
    return parser.parse_args(list(flags))


def test_a_named_profile_brings_its_microphone_avatar_eyes_and_voice(tmp_path, capsys):
    """`--profile anna` on a live command: anna's avatar, eye calibration and voice adapter,
    and her microphone in place of the config's; a flag still wins over the profile."""
    from app.config import Config
    from app.eyes.calibration import GazeCalibration
    from app.live.cli_common import apply_profile, live_request, voice_profile

    eyes = {"version": 1, "coefficients": [[0.1, 0.0, 0.2], [0.0, 0.3, -0.1]],
            "error_deg": 1.5, "targets_used": 9, "holdout_error_deg": 2.0}
    save_profile(Profile("anna", {"microphone": {"device": "Anna's USB mic", "snr_db": 30},
                                  "avatar": {"path": str(tmp_path / "anna.glb")},
                                  "eyes": {**eyes, "camera": "0"}}))
    config = Config()
    config.avatar.path = str(tmp_path / "config.glb")
    chosen, calibration = apply_profile(_live_args("--profile", "anna"), config)
    assert chosen.audio.device == "Anna's USB mic"
    assert chosen.avatar.path == str(tmp_path / "anna.glb")
    assert isinstance(calibration, GazeCalibration) and calibration.targets_used == 9
    assert config.avatar.path == str(tmp_path / "config.glb")  # the config itself unchanged

    request = live_request(_live_args("--profile", "anna"), config)
    assert request["avatar"] == tmp_path / "anna.glb"
    assert request["eye_calibration"].coefficients.tolist() == eyes["coefficients"]
    assert request["voice_profile"] == "anna"
    assert "Anna's USB mic" in capsys.readouterr().err  # not plugged in here: said, default used
    request = live_request(_live_args("--profile", "anna", "--avatar", "mine.glb",
                                      "--voice-profile", "bob"), config)
    assert request["avatar"] == Path("mine.glb") and request["voice_profile"] == "bob"
    assert voice_profile(_live_args("--profile", "anna", "--no-voice-profile")) is None
    # without --profile: the config's avatar, no calibration from a profile
    request = live_request(_live_args(), config)
    assert request["avatar"] == tmp_path / "config.glb" and request["eye_calibration"] is None


def test_a_profile_that_is_not_there_is_an_error_and_a_damaged_one_a_notice(capsys):
    from app.config import Config
    from app.live.cli_common import apply_profile

    with pytest.raises(LivefaceError, match="no profile named 'nobody'.*calibrate --profile"):
        apply_profile(_live_args("--profile", "nobody"), Config())
    with pytest.raises(LivefaceError, match="profile name"):
        apply_profile(_live_args("--profile", "../escape"), Config())
    version = save_profile(Profile("broken", {"avatar": {"path": "x.glb"}}))
    (version / "profile.json").write_text("{ not json")
    config, calibration = apply_profile(_live_args("--profile", "broken"), Config())
    assert config.avatar.path == "" and calibration is None
    assert "damaged" in capsys.readouterr().err
    save_profile(Profile("odd", {"eyes": {"coefficients": "nonsense"}, "avatar": 3}))
    config, calibration = apply_profile(_live_args("--profile", "odd"), Config())
    assert calibration is None and config.avatar.path == ""
    assert "eye calibration of profile 'odd' is unreadable" in capsys.readouterr().err
