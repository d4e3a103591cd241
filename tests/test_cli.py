"""The command line as a user meets it: exit codes, JSON, and errors without tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from app.avatar.rig import ARKIT_NAMES, RIG_NAMES
from app.cli import main


SAMPLE = str(Path(__file__).resolve().parents[1] / "assets" / "audio" / "sample.wav")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_avatar_info_json_lists_all_arkit_targets(capsys):
    assert main(["avatar", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["morph_targets"] == list(ARKIT_NAMES)
    assert info["missing_targets"] == []
    assert info["vertices"] > 1000 and info["triangles"] > 1000


def test_avatar_info_text(capsys):
    assert main(["avatar", "info"]) == 0
    out = capsys.readouterr().out
    assert "jawOpen" in out and "vertices" in out


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (b"this is not a glTF file at all", ""),
        (b"glTF\x02\x00\x00\x00\xff\xff\x00\x00", ""),
    ],
)
def test_bad_avatars_end_in_one_sentence_not_a_traceback(tmp_path, content, message):
    path = tmp_path / "bad.glb"
    if content is not None:
        path.write_bytes(content)
    result = _run("avatar", "info", "--avatar", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("liveface: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_flags_are_usage_errors():
    result = _run("render", "--expressions", "--size", "big", "--out", "x.mp4")
    assert result.returncode == 2 and "size must look like" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_refuses_odd_sizes_and_unknown_suffixes(tmp_path):
    odd = _run("render", "--expressions", "--size", "65x64", "--out", str(tmp_path / "a.mp4"))
    assert odd.returncode == 2 and "even" in odd.stderr
    gif = _run("render", "--expressions", "--frames", "2", "--size", "64x64",
               "--out", str(tmp_path / "a.gif"))
    assert gif.returncode == 2 and ".mp4" in gif.stderr
    assert not list(tmp_path.iterdir()), "a failed render must leave nothing behind"


def test_render_into_missing_folder_is_a_user_error(tmp_path):
    result = _run("render", "--expressions", "--frames", "2", "--size", "64x64",
                  "--out", str(tmp_path / "nowhere" / "a.mp4"))
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.slow
def test_render_expressions_writes_the_requested_frames(tmp_path):
    out = tmp_path / "x.mp4"
    result = _run("render", "--expressions", "--frames", "24", "--size", "256x256",
                  "--out", str(out))
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as video:
        stream = video.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(stream)]
    assert len(frames) == 24
    assert frames[0].shape == (256, 256, 3)
    assert frames[0].std() > 10, "the avatar should stand out from the background"
    assert [p.name for p in tmp_path.iterdir()] == ["x.mp4"], "no temporary files left"


def test_render_png_frames(tmp_path):
    out = tmp_path / "frames"
    assert main(["render", "--expressions", "--frames", "3", "--size", "96x96",
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "frame_00000.png", "frame_00001.png", "frame_00002.png"]


def test_render_speech_with_a_model_bundle(tmp_path):
    from app.checkpoints import save_bundle
    from app.model.animator import Animator
    from app.model.config import tiny_config

    config = tiny_config()
    untrained = Animator.build(config)
    bundle = tmp_path / "tiny.safetensors"
    save_bundle(bundle, untrained.encoder, untrained.denoiser, untrained.codec, config)
    out = tmp_path / "speech.mp4"
    result = _run("render", "--audio", SAMPLE, "--model", str(bundle),
                  "--emotion", "happy", "--intensity", "0.5", "--frames", "12",
                  "--size", "96x96", "--fps", "25", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as video:
        assert video.streams.video[0].frames == 12
        audio = video.streams.audio[0]
        assert abs(float(audio.duration * audio.time_base) - 12 / 25) < 0.1


def test_render_speech_errors(tmp_path):
    missing = _run("render", "--audio", str(tmp_path / "none.wav"), "--out", str(tmp_path / "a.mp4"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad = _run("render", "--audio", SAMPLE, "--emotion", "bored",
               "--out", str(tmp_path / "a.mp4"))
    assert bad.returncode == 2 and "unknown emotion" in bad.stderr
    no_model = _run("render", "--audio", SAMPLE, "--model",
                    str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "a.mp4"))
    assert no_model.returncode == 2 and "Traceback" not in no_model.stderr


def test_files_can_take_the_offline_baseline(tmp_path):
    """`--model offline` hears the whole clip at once: a track of the same length as the
    streaming student's, a different one, and the same on every run."""
    tracks = {}
    for model, name in (("online", "a"), ("offline", "b"), ("offline", "c")):
        out = tmp_path / f"{name}.csv"
        assert main(["animate", "--audio", SAMPLE, "--model", model, "--out", str(out)]) == 0
        tracks[name] = np.loadtxt(out, delimiter=",", skiprows=1)
    assert tracks["a"].shape == tracks["b"].shape
    assert np.all(np.isfinite(tracks["b"]))
    assert np.abs(tracks["a"][:, 1:] - tracks["b"][:, 1:]).max() > 0.05
    np.testing.assert_array_equal(tracks["b"], tracks["c"])
    jaw = tracks["b"][:, 1 + RIG_NAMES.index("jawOpen")]
    assert jaw.max() - jaw.min() > 0.1  # it speaks, not a still face
