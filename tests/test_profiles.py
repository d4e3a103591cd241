"""Profiles: saved whole or not at all, damaged ones reported and ignored."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

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
