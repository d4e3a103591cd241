"""`liveface calibrate mic` and `liveface calibrate avatar`: the microphone check's
figures and advice (on a paced file source, then through a PulseAudio virtual microphone
as a user runs it), and the settings they save. The eye part is in tests/test_eyes.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pulse import pulse, requires_pulse, speech_clip  # noqa: F401 - the fixtures

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.mic_check import MicCheck, check_microphone, describe
from app.audio.sources import FileSource
from app.config import load_config, save_user_setting
from app.errors import LivefaceError
from app.live.clock import ManualClock
from app.resources import default_avatar_path

REPO = Path(__file__).resolve().parents[1]


def _liveface(*args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=120, **popen)


# -- the microphone check ---------------------------------------------------------------------
def test_advice_follows_the_levels():
    good = MicCheck("mic", -62.0, -22.0, 0.5, 0)
    assert good.advice() == [] and good.verdict == "good" and good.snr_db == 40.0
    assert MicCheck("mic", -50.0, -35.0, 0.1, 0).verdict == "usable"
    assert "no voice" in MicCheck("mic", -50.0, -47.0, 0.01, 0).advice()[0]
    assert "clips" in MicCheck("mic", -60.0, -8.0, 1.0, 120).advice()[0]
    assert "quiet" in MicCheck("mic", -70.0, -45.0, 0.02, 0).advice()[0]
    noisy = MicCheck("mic", -30.0, -22.0, 0.3, 0).advice()
    assert len(noisy) == 1 and "room is loud" in noisy[0]
    assert "dB over the room" in describe(good)


def test_the_check_measures_room_and_voice_apart(speech_clip):  # noqa: F811
    rng = np.random.default_rng(0)
    room = 10 ** (-60 / 20) * rng.normal(size=int(2.5 * SAMPLE_RATE_HZ))
    voice = speech_clip / np.max(np.abs(speech_clip)) * 0.5  # peak -6 dBFS
    clock = ManualClock()
    source = FileSource.from_samples(np.concatenate([room, voice]).astype(np.float32), clock)
    prompts = []
    check = check_microphone(source, clock, 2.0, 3.0, prompts.append)
    assert len(prompts) == 2 and "quiet" in prompts[0] and "speak" in prompts[1]
    assert check.room_dbfs == pytest.approx(-60.0, abs=1.5)
    assert -30.0 < check.voice_dbfs < -6.0 and check.clipped_samples == 0
    assert check.verdict == "good"


def test_a_silent_source_is_a_clear_error():
    class Silent(FileSource):
        def read(self, max_samples):
            return np.zeros(0, np.float32), None

    clock = ManualClock()
    with pytest.raises(LivefaceError, match="no audio"):
        check_microphone(Silent.from_samples(np.zeros(16000, np.float32), clock), clock,
                         0.5, 0.5, lambda text: None)


@requires_pulse
@pytest.mark.pulse
def test_calibrate_mic_through_the_virtual_microphone(pulse, speech_clip, tmp_path):  # noqa: F811
    """As a user runs it: quiet first, speech when asked; the device is saved."""
    config = tmp_path / "config.toml"
    config.write_text("# my settings\n[render]\nwidth = 800\n")
    command = [sys.executable, "-m", "app.cli", "--config", str(config), "calibrate", "mic",
               "--device", "pulse", "--quiet", "1", "--speak", "3", "--json"]
    process = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in process.stderr:
        if "now speak" in line:
            pulse.writer.play(speech_clip[: 3 * SAMPLE_RATE_HZ] * 0.7)
            break
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    result = json.loads(out)
    print(f"\ncalibrate mic through PulseAudio: {result}")
    assert "pulse" in result["device"] and result["saved_to"] == str(config)
    assert result["snr_db"] > 20 and result["verdict"] in ("good", "usable")
    saved = load_config(config)
    assert saved.audio.device == result["device"] and saved.render.width == 800
    assert config.read_text().startswith("# my settings")


def test_calibrate_mic_without_such_a_device_names_the_choices(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("")
    result = _liveface("--config", str(config), "calibrate", "mic",
                       "--device", "no-such-microphone-here")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no-such-microphone-here" in result.stderr or "no audio input" in result.stderr
    assert config.read_text() == ""


# -- the avatar -------------------------------------------------------------------------------
def test_calibrate_avatar_checks_and_saves_it(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("")
    result = _liveface("--config", str(config), "calibrate", "avatar", "--avatar",
                       str(default_avatar_path()), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["morph_targets"] == 52 and figures["missing_targets"] == []
    assert load_config(config).avatar.path == str(default_avatar_path().resolve())
    broken = tmp_path / "broken.glb"
    broken.write_bytes(b"glTF" + b"\0" * 40)
    result = _liveface("--config", str(config), "calibrate", "avatar", "--avatar", str(broken))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert load_config(config).avatar.path == str(default_avatar_path().resolve())


# -- saving settings --------------------------------------------------------------------------
def test_a_saved_setting_keeps_the_file_and_a_bad_one_is_refused(tmp_path):
    config = tmp_path / "sub" / "config.toml"
    save_user_setting("audio", "device", "USB mic", config)
    config.write_text(config.read_text() + "\n# keep me\n[mirror]\nmax_fps = 60.0\n")
    save_user_setting("audio", "device", "Headset", config)
    text = config.read_text()
    assert "# keep me" in text and load_config(config).audio.device == "Headset"
    with pytest.raises(LivefaceError, match="audio.device"):
        save_user_setting("audio", "device", 3, config)
    with pytest.raises(LivefaceError, match="unknown config key"):
        save_user_setting("audio", "volume", 1.0, config)
    assert config.read_text() == text
