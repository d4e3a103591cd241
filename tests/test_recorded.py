"""Recorded speech as data: transcripts made speakable, prompts aligned and chained."""

import json

import numpy as np
import pytest

from app.audio.io import read_audio
from app.cli import main
from app.data.dataset_files import timeline_from_dict
from app.data.recorded import (
    CHAIN_S,
    CORPORA,
    Prompt,
    corpus_prompts,
    joined_timeline,
    spoken_text,
)
from app.data.timeline import SILENCE, Phone, Timeline, Word

needs_corpus = pytest.mark.skipif(
    not CORPORA["asterisk-en"].audio_dir.is_dir(),
    reason="apt-get install asterisk-core-sounds-en asterisk-core-sounds-en-g722 (CI does)")


def test_transcripts_become_words_pocketsphinx_can_align():
    assert spoken_text("Please press 1 or #.") == "please press one or pound"
    assert spoken_text("Call-Forward on Busy.") == "call forward on busy"
    assert spoken_text("[this is a simple beep tone]") is None
    assert spoken_text("(3 seconds of silence)", "ru") is None
    assert spoken_text("...") is None


def test_other_languages_keep_their_words_and_lose_prompts_with_lost_letters():
    assert spoken_text("Attivato.", "it") == "Attivato ."
    assert spoken_text("Введите 2 и нажмите решётку.", "ru") == "Введите 2 и нажмите решётку ."
    assert spoken_text("Il tempo sar? esattamente..", "it") is None  # "sarà", mis-encoded
    assert spoken_text("Vuoi riprovare?", "it") == "Vuoi riprovare ?"
    assert spoken_text("[toni ascendenti]", "it") is None


@pytest.mark.skipif(not CORPORA["asterisk-ru"].audio_dir.is_dir(),
                    reason="apt-get install asterisk-core-sounds-ru asterisk-core-sounds-ru-g722")
def test_the_unheard_speaker_is_validation_only_and_her_transcripts_are_clean():
    prompts = corpus_prompts(CORPORA["asterisk-ru"])
    assert len(prompts) > 500 and {p.split for p in prompts} == {"validation"}
    admin = next(p for p in prompts if p.name == "conf-adminmenu")
    assert not admin.text.startswith("conf")  # the listing repeats some names
    assert {p.split for p in corpus_prompts(CORPORA["asterisk-it"])} == {"train", "validation"}


def test_splits_are_fixed_by_the_prompt_name():
    prompts = [Prompt(f"prompt-{i}", "words") for i in range(400)]
    splits = [p.split for p in prompts]
    assert splits == [Prompt(p.name, "other words").split for p in prompts]
    assert 0.08 < splits.count("validation") / len(splits) < 0.22


def test_joined_timelines_shift_each_part_and_merge_the_silences_between():
    first = Timeline((Phone(0.0, 0.1, SILENCE), Phone(0.1, 0.3, "p"), Phone(0.3, 0.5, "a"),
                      Phone(0.5, 0.6, SILENCE)),
                     (Word(0.1, 0.5, "pa"),), "en", 0.6)
    second = Timeline((Phone(0.0, 0.2, SILENCE), Phone(0.2, 0.4, "m")), (Word(0.2, 0.4, "m"),),
                      "en", 0.4)
    joined = joined_timeline([first, second], [0.85, 0.65])
    assert joined.duration_s == pytest.approx(1.5)
    assert [(p.phone, round(p.start_s, 3), round(p.end_s, 3)) for p in joined.phones] == [
        (SILENCE, 0.0, 0.1), ("p", 0.1, 0.3), ("a", 0.3, 0.5), (SILENCE, 0.5, 1.05),
        ("m", 1.05, 1.25), (SILENCE, 1.25, 1.5)]
    assert [w.text for w in joined.words] == ["pa", "m"] and joined.words[1].start_s == 1.05


@needs_corpus
def test_recorded_prompts_are_aligned_animated_and_chained(tmp_path, capsys):
    out = tmp_path / "recorded"
    assert main(["data", "recorded", "--out", str(out), "--limit", "12"]) == 0
    assert "prompts" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    clips = manifest["clips"]
    assert manifest["format"] == "liveface-dataset/1" and manifest["build"]["prompts"] == 12
    assert {c["engine"] for c in clips} == {"recorded"}
    assert {c["split"] for c in clips} <= {"train", "validation"}
    for clip in clips:
        rig = np.load(out / clip["rig"])
        audio = read_audio(out / clip["audio"])
        timeline = timeline_from_dict(json.loads((out / clip["timeline"]).read_text()))
        assert rig.shape == (clip["frames"], 57) and np.all(np.isfinite(rig))
        assert abs(len(audio) / 16_000 - clip["duration_s"]) < 1e-3
        assert timeline.phones[-1].end_s == pytest.approx(timeline.duration_s)
        assert any(p.phone != SILENCE for p in timeline.phones)
    chains = [c for c in clips if c["id"].startswith("rec_chain_")]
    assert chains and all(c["split"] == "train" and c["duration_s"] >= CHAIN_S for c in chains)
    # a second run keeps what is written and gives the same manifest
    before = (out / "manifest.json").read_text()
    assert main(["data", "recorded", "--out", str(out), "--limit", "12"]) == 0
    assert (out / "manifest.json").read_text() == before


def test_a_missing_corpus_is_a_clear_error(monkeypatch, tmp_path, capsys):
    from dataclasses import replace

    from app.data import recorded

    monkeypatch.setitem(recorded.CORPORA, "asterisk-en",
                        replace(CORPORA["asterisk-en"], audio_dir=tmp_path / "nothing"))
    assert main(["data", "recorded", "--out", str(tmp_path / "out")]) == 2
    assert "apt-get install asterisk-core-sounds-en" in capsys.readouterr().err
