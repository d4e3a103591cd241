"""`liveface data report | build | align` through the command line, exit codes included."""

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import _parser, main
from app.data.dataset_manifest import load_manifest
from app.data.speech import available_engines

needs_espeak = pytest.mark.skipif("espeak-ng" not in available_engines(),
                                  reason="espeak-ng is not installed")
BUILD = ["--minutes", "0.2", "--langs", "en,fr", "--seed", "2", "--workers", "1",
         "--engines", "espeak-ng"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if "espeak-ng" not in available_engines():
        pytest.skip("espeak-ng is not installed")
    out = tmp_path_factory.mktemp("report") / "d"
    assert main(["data", "build", "--out", str(out), *BUILD]) == 0
    return out


@needs_espeak
def test_report_prints_hours_per_language_and_writes_a_plot(built, tmp_path, capsys):
    plot = tmp_path / "clip.png"
    assert main(["data", "report", str(built), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    for title in ("by language", "by voice", "by emotion", "by split", "by engine"):
        assert title in printed
    assert "en" in printed and "fr" in printed and "hours" in printed
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000


@needs_espeak
def test_report_json_adds_up(built, capsys):
    assert main(["data", "report", str(built), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    total_h = sum(c.duration_s for c in load_manifest(built).clips) / 3600
    assert summary["total"]["hours"] == pytest.approx(total_h)
    for group in ("language", "voice", "emotion", "split", "engine"):
        rows = summary[f"by_{group}"].values()
        assert sum(r["hours"] for r in rows) == pytest.approx(total_h)
        assert sum(r["clips"] for r in rows) == summary["total"]["clips"]


def test_report_without_a_manifest_is_a_user_error(tmp_path, capsys):
    assert main(["data", "report", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


@needs_espeak
@pytest.mark.parametrize("damage", ["delete_audio", "truncate_rig"])
def test_report_names_missing_or_corrupt_clip_files(built, tmp_path, capsys, damage):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    entry = load_manifest(copy).clips[0]
    if damage == "delete_audio":
        (copy / entry.audio).unlink()
        named = entry.audio
    else:
        np.save(copy / entry.rig, np.zeros((3, 5), np.float32))
        named = entry.rig
    assert main(["data", "report", str(copy)]) == 2
    assert named in capsys.readouterr().err


def test_build_with_a_bad_request_exits_2(tmp_path, capsys):
    assert main(["data", "build", "--out", str(tmp_path / "d"), "--minutes", "0",
                 "--langs", "en"]) == 2
    assert "--minutes" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_build_without_required_flags_is_a_usage_error():
    with pytest.raises(SystemExit) as exited:
        main(["data", "build", "--minutes", "1"])
    assert exited.value.code == 2


def test_align_arguments_parse():
    args = _parser().parse_args(["data", "align", "--audio", "a.wav", "--text", "hello there",
                                 "--out", "o"])
    assert (args.command, args.data_command) == ("data", "align")
    assert args.audio == Path("a.wav") and args.text == "hello there" and args.out == Path("o")
    with pytest.raises(SystemExit):
        _parser().parse_args(["data", "align", "--audio", "a.wav"])


def test_build_lists_parse():
    args = _parser().parse_args(["data", "build", "--out", "d", "--minutes", "2", "--langs",
                                 "en, de,,fr", "--heldout-langs", "it,pt", "--workers", "3"])
    assert args.langs == ("en", "de", "fr") and args.heldout_langs == ("it", "pt")
    assert args.workers == 3 and args.seed == 0 and args.engines is None


GOFORWARD = Path("/usr/share/pocketsphinx/test/data/goforward.raw")


@pytest.mark.skipif(not GOFORWARD.is_file(), reason="Debian pocketsphinx-testdata is missing")
def test_align_prints_word_timings_and_writes_the_tracks(tmp_path, capsys):
    pytest.importorskip("app.data.align")
    pytest.importorskip("pocketsphinx")
    code = main(["data", "align", "--audio", str(GOFORWARD), "--text", "go forward ten meters",
                 "--out", str(tmp_path)])
    assert code == 0
    words = [line.split()[-1] for line in capsys.readouterr().out.splitlines()[:4]]
    assert words == ["go", "forward", "ten", "meters"]
    timeline = json.loads((tmp_path / "goforward.timeline.json").read_text())
    rig = np.load(tmp_path / "goforward.rig.npy")
    assert rig.dtype == np.float32 and rig.shape[1] == 57 and len(timeline["phones"]) > 8
