"""Voice enrolment: takes checked as a person records them, the adapter, the profile's
voice file, and `liveface calibrate voice` end to end on a recorded speaker (Asterisk's
English prompts, installed by CI)."""

import copy
import json

import numpy as np
import pytest
import torch

from app.audio.io import read_audio, write_wav
from app.checkpoints import STUDENT_FILE, load_parts
from app.cli import main
from app.data.recorded import CORPORA, corpus_prompts
from app.errors import LivefaceError
from app.model.voice_adapter import AdaptedEncoder, VoiceAdapter, VoiceFit
from app.profiles import Profile, read_profile, save_profile
from app.resources import asset_path
from app.voice.enrol import is_better
from app.voice.takes import Take, TakeRefused, check_take, read_takes
from app.voice.voice_file import adapter_bytes, adapter_from_bytes, model_sha256, with_voice

ENGLISH = CORPORA["asterisk-en"]
needs_corpus = pytest.mark.skipif(not ENGLISH.audio_dir.is_dir(),
                                  reason=f"apt-get install {ENGLISH.packages} (CI does)")
NAMES = ("agent-pass", "conf-getpin", "pbx-invalid", "conf-onlyperson", "vm-mismatch",
         "vm-reenterpassword", "conf-enteringno", "vm-review", "vm-isunavail", "conf-locked")
STUDENT = asset_path("models", STUDENT_FILE)


@pytest.fixture(scope="module")
def words() -> dict[str, str]:
    """Each prompt's words, as the corpus transcribes them."""
    return {p.name: p.text for p in corpus_prompts(ENGLISH) if p.name in NAMES}


def _prompt(name: str) -> np.ndarray:
    return read_audio(ENGLISH.audio_dir / f"{name}{ENGLISH.suffix}")


@needs_corpus
def test_a_take_read_as_written_passes_its_checks(words):
    checked = check_take(Take("t", _prompt("agent-pass"), words["agent-pass"]))
    assert [w.text for w in checked.aligned.timeline.words][:3] == ["please", "enter", "your"]
    assert checked.aligned.rig.shape[0] == -(-len(checked.take.audio) // 320)
    assert -40 < checked.peak_dbfs < 0


@needs_corpus
@pytest.mark.parametrize("change, reason", [
    (lambda audio: audio * 1e-4, "silent"),
    (lambda audio: np.clip(audio * 40, -1, 1), "clipped"),
    (lambda audio: audio[:2000], "shorter"),
])
def test_bad_takes_are_refused_with_the_reason(words, change, reason):
    take = Take("t", change(_prompt("agent-pass")), words["agent-pass"])
    with pytest.raises(TakeRefused, match=reason):
        check_take(take)


@needs_corpus
@pytest.mark.parametrize("audio_of, words_of", [
    ("agent-pass", "conf-getpin"),  # the same length, other words
    ("pbx-invalid", "vm-mismatch"),
    ("vm-mismatch", "pbx-invalid"),
    ("conf-onlyperson", "vm-reenterpassword"),
])
def test_a_take_that_says_something_else_is_refused(words, audio_of, words_of):
    with pytest.raises(TakeRefused, match="does not seem to say its prompt"):
        check_take(Take("t", _prompt(audio_of), words[words_of]))


def test_a_takes_folder_needs_the_words_beside_each_take(tmp_path):
    with pytest.raises(LivefaceError, match="does not exist"):
        read_takes(tmp_path / "nowhere")
    with pytest.raises(LivefaceError, match="holds no takes"):
        read_takes(tmp_path)
    write_wav(tmp_path / "01.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(LivefaceError, match="without their words: 01.wav"):
        read_takes(tmp_path)
    (tmp_path / "01.txt").write_text("hello\n")
    assert [(t.name, t.text) for t in read_takes(tmp_path)] == [("01", "hello")]
    (tmp_path / "02.wav").write_bytes(b"")
    (tmp_path / "02.txt").write_text("hi")
    with pytest.raises(LivefaceError, match="empty"):
        read_takes(tmp_path)


def test_an_adapter_at_zero_changes_nothing_and_streams_as_it_runs_whole():
    parts = load_parts(STUDENT)
    adapter = VoiceAdapter(parts.config)
    adapted = AdaptedEncoder(parts.encoder, adapter)
    mel = torch.randn(1, 40, parts.config.mel_bins)
    with torch.no_grad():
        assert torch.equal(adapted(mel)[0], parts.encoder(mel)[0])
        torch.nn.init.normal_(adapter.mel_shift, std=0.3)
        torch.nn.init.normal_(adapter.feature_scale, std=0.3)
        whole = adapted(mel)[0]
        first, state = adapted(mel[:, :16])
        rest, _ = adapted(mel[:, 16:], state)
    assert not torch.allclose(whole, parts.encoder(mel)[0])
    torch.testing.assert_close(torch.cat([first, rest], 1), whole, atol=1e-5, rtol=1e-5)


def test_the_voice_file_is_bound_to_the_model_it_was_fitted_to(tmp_path, capsys):
    parts = load_parts(STUDENT)
    fit = VoiceFit(VoiceAdapter(parts.config), copy.deepcopy(parts.encoder),
                   copy.deepcopy(parts.denoiser))
    with torch.no_grad():
        fit.adapter.mel_shift.fill_(0.25)
        next(fit.denoiser.parameters()).add_(0.5)
    data = adapter_bytes(fit, model_sha256(STUDENT), {"kept": True})
    loaded = adapter_from_bytes(data, parts, model_sha256(STUDENT))
    assert torch.equal(loaded.adapter.mel_shift, fit.adapter.mel_shift)
    assert torch.equal(next(loaded.denoiser.parameters()), next(fit.denoiser.parameters()))
    assert not torch.equal(next(loaded.denoiser.parameters()),
                           next(parts.denoiser.parameters()))  # the shipped ones untouched
    with pytest.raises(LivefaceError, match="other model weights"):
        adapter_from_bytes(data, parts, "0" * 64)
    with pytest.raises(LivefaceError, match="damaged"):
        adapter_from_bytes(data[:100], parts, model_sha256(STUDENT))
    # through a profile, as the commands load it; a damaged one is left out with a notice
    import app.profiles

    root = tmp_path / "profiles"
    original = app.profiles.profiles_root
    app.profiles.profiles_root = lambda: root
    try:
        save_profile(Profile("me", {}, data), root)
        adapted, label = with_voice(parts, STUDENT, "me")
        assert isinstance(adapted.encoder, AdaptedEncoder) and "me" in label
        assert adapted.denoiser is not parts.denoiser
        assert with_voice(parts, STUDENT, "me", use=False) == (parts, None)
        save_profile(Profile("me", {}, data[:-10]), root)
        assert with_voice(parts, STUDENT, "me") == (parts, None)
        assert "Running without the voice adapter" in capsys.readouterr().err
    finally:
        app.profiles.profiles_root = original


def _scores(closed, phones, vowels_closed, vowels, lve):
    return {"bilabial_closed": closed, "bilabial_phones": phones,
            "vowels_closed": vowels_closed, "vowels": vowels, "lve_mm": lve}


def test_an_adapter_is_kept_only_when_it_is_better():
    before = _scores(10, 40, 4, 100, 4.0)
    assert is_better(before, _scores(20, 40, 6, 100, 4.0))
    assert not is_better(before, _scores(10, 40, 4, 100, 3.0))  # no more closures
    assert not is_better(before, _scores(20, 40, 11, 100, 4.0))  # vowels shut > 10%
    assert not is_better(before, _scores(20, 40, 6, 100, 4.2))  # LVE 5% worse
    assert is_better(_scores(10, 40, 15, 100, 4.0), _scores(20, 40, 15, 100, 4.0))


@needs_corpus
def test_calibrate_voice_enrols_from_a_takes_folder(words, tmp_path, capsys):
    takes = tmp_path / "takes"
    takes.mkdir()
    for name in NAMES:
        write_wav(takes / f"{name}.wav", _prompt(name), 16000)
        (takes / f"{name}.txt").write_text(words[name])
    bad = _prompt("conf-getpin") * 1e-4  # silent: refused, the rest goes on
    write_wav(takes / "zz-silent.wav", bad, 16000)
    (takes / "zz-silent.txt").write_text(words["conf-getpin"])
    assert main(["calibrate", "voice", "--takes", str(takes), "--steps", "6", "--json",
                 "--profile", "tester"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["takes"] == 11 and result["held_out_takes"] == 2
    assert result["enrolment_takes"] == 8
    assert [r["take"] for r in result["refused"]] == ["zz-silent"]
    for key in ("before", "after"):
        assert set(result[key]) >= {"bilabial_closed", "bilabial_phones", "vowels_closed",
                                    "vowels", "lve_mm"}
        assert result[key]["bilabial_phones"] > 0 and result[key]["lve_mm"] > 0
    assert result["kept"] == is_better(result["before"], result["after"])
    profile = read_profile("tester")
    if result["kept"]:
        assert profile.voice is not None and profile.settings["voice"]["after"] == result["after"]
    else:
        assert profile is None and result["profile"] is None
