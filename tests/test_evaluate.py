"""`liveface eval` end to end on tiny models: the documented JSON shapes, and user errors."""

import json

import pytest

from app.cli import main
from app.data.realspeech import TESTDATA_DIR, real_speech_clips
from app.data.recorded import CORPORA
from app.eval.eval_cli import PROBE_FEATURES
from app.eval.evaluate import BASELINE_NAMES, METRICS, MODELS, SETS
from app.eval.metrics import COUNTS

needs_real_speech = pytest.mark.skipif(
    not TESTDATA_DIR.is_dir(), reason="apt-get install pocketsphinx-testdata (CI installs it)")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data, run, models = root / "data", root / "run", root / "models"
    assert main(["data", "build", "--out", str(data), "--minutes", "0.4", "--langs", "en,de",
                 "--seed", "0", "--workers", "1", "--engines", "espeak-ng"]) == 0
    assert main(["train", "--data", str(data), "--run", str(run), "--preset", "tiny",
                 "--stage", "all", "--threads", "1"]) == 0
    assert main(["distill", "--run", str(run)]) == 0
    models.mkdir()
    assert main(["export", "--run", str(run), "--out", str(models)]) == 0
    return data, models


needs_recorded_corpus = pytest.mark.skipif(
    not CORPORA["asterisk-en"].audio_dir.is_dir(),
    reason="apt-get install asterisk-core-sounds-en asterisk-core-sounds-en-g722 (CI does)")


@pytest.fixture(scope="module")
def tiny_recorded(tmp_path_factory):
    """The recorded corpus' first prompts, aligned and animated (two validation sentences)."""
    out = tmp_path_factory.mktemp("recorded")
    assert main(["data", "recorded", "--out", str(out), "--limit", "6"]) == 0
    return out


@pytest.fixture(scope="module")
def tiny_unheard(tmp_path_factory):
    """The unheard speaker's first prompts (all validation: no model trains on her)."""
    out = tmp_path_factory.mktemp("unheard")
    assert main(["data", "recorded", "--out", str(out), "--corpus", "asterisk-ru",
                 "--limit", "6"]) == 0
    return out


def _check_figures(results: dict, models: set, sets: tuple[str, ...] = SETS) -> None:
    assert set(results) == models
    for model in results:
        assert set(results[model]) == set(sets)
        for figures in results[model].values():
            assert set(figures) == {*METRICS, *COUNTS}
            assert 0 <= figures["bilabial_closed"] <= figures["bilabial_phones"]
            assert 0 <= figures["vowels_closed"] <= figures["vowels"]
            if figures["lve_mm"] is None:  # a set of this tiny build may hold no clip
                continue
            assert figures["lve_mm"] >= 0.0 and abs(figures["lag_ms"]) <= 200


def test_contact_fits_a_head_and_chooses_its_thresholds_on_validation(tiny_models, tiny_recorded,
                                                                     tiny_unheard, tmp_path):
    from app.checkpoints import STUDENT_FILE, load_parts
    from app.training.contact import CLOSE_GRID, OPEN_GRID

    data, models = tiny_models
    out = tmp_path / "student.safetensors"
    assert main(["contact", "--student", str(models / STUDENT_FILE), "--data", str(data),
                 "--recorded", str(tiny_recorded), "--validation", str(tiny_recorded),
                 "--validation", str(tiny_unheard), "--out", str(out), "--steps", "30",
                 "--augmented", "0", "--max-clips", "1", "--threads", "1"]) == 0
    parts = load_parts(out)
    assert parts.contact is not None and parts.config.contact_context > 0
    report = json.loads(out.with_suffix(".contact.json").read_text())
    assert parts.config.contact_release == report["release_frames"] == 0  # the default
    grid = report["grid"]
    assert grid[0]["close"] is None and len(grid) == 1 + len(CLOSE_GRID) * len(OPEN_GRID)
    best = max(grid[1:], key=lambda row: (row["rule"], -row["mean_lve_mm"]))
    assert (parts.config.contact_close, parts.config.contact_open) == (best["close"],
                                                                       best["open"])
    assert set(grid[0]["sets"]) == {*SETS[:2], "real_speech", "unheard_speaker"}
    assert main(["contact", "--student", str(tmp_path / "missing.safetensors"), "--data",
                 str(data), "--recorded", str(tiny_recorded), "--out", str(out)]) == 2


@needs_real_speech
@needs_recorded_corpus
@pytest.mark.skipif(not CORPORA["asterisk-ru"].audio_dir.is_dir(),
                    reason="apt-get install asterisk-core-sounds-ru asterisk-core-sounds-ru-g722")
def test_eval_scores_models_and_baselines_on_the_validation_split(tiny_models, tiny_recorded,
                                                                  tiny_unheard, capsys):
    data, models = tiny_models
    capsys.readouterr()
    assert main(["eval", "--models", str(models), "--data", str(data), "--recorded",
                 str(tiny_recorded), "--recorded", str(tiny_unheard), "--max-clips", "1",
                 "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    _check_figures(results, {*MODELS, *BASELINE_NAMES}, (*SETS, "unheard_speaker"))
    for name in ("real_speech", "unheard_speaker"):
        recorded = results["student"][name]
        assert recorded["bilabial_phones"] + recorded["vowels"] > 0  # a validation sentence
        # the still face keeps its lips together: every p/b/m and every vowel counts as shut
        still = results["still_face"][name]
        assert still["bilabial_closed"] == still["bilabial_phones"]
        assert still["vowels_closed"] == still["vowels"]
    assert not (models / "eval-test.json").exists(), "only the test split writes its figures"


@needs_real_speech
def test_eval_test_split_writes_its_figures_beside_the_models(tiny_models, capsys):
    data, models = tiny_models
    capsys.readouterr()
    assert main(["eval", "--split", "test", "--models", str(models), "--data", str(data),
                 "--max-clips", "1", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    _check_figures(results, {*MODELS, *BASELINE_NAMES})
    record = json.loads((models / "eval-test.json").read_text())
    assert record["split"] == "test" and record["results"] == results
    assert record["command"].startswith("liveface eval --split test")
    assert len(record["data_plan_hash"]) == 64 and record["machine"]
    assert set(record["models"]) == set(MODELS)
    # the table for people: pooled counts with their share
    assert main(["eval", "--split", "test", "--models", str(models), "--data", str(data),
                 "--max-clips", "1", "--only", "student,loudness"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert "p/b/m closed" in rows[0] and "vowels shut" in rows[0]
    assert len(rows) == 1 + 2 * len(SETS)
    assert main(["eval", "--split", "test", "--models", str(models), "--data", str(data),
                 "--only", "nobody"]) == 2
    assert "--only" in capsys.readouterr().err


@needs_real_speech
def test_eval_one_recording(tiny_models, capsys):
    _, models = tiny_models
    clip = real_speech_clips()[5]
    capsys.readouterr()
    assert main(["eval", "--models", str(models), "--audio", str(clip.audio_path),
                 "--text", clip.text, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    # the mean face needs a data set; every other baseline scores beside the models
    assert set(results) == {*MODELS, *BASELINE_NAMES} - {"mean_face"}
    assert all(set(figures) == {*METRICS, *COUNTS} for figures in results.values())
    # the table for people: one row per model, with the closure counts behind the rates
    assert main(["eval", "--models", str(models), "--audio", str(clip.audio_path),
                 "--text", clip.text]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert "p/b/m closed" in rows[0] and len(rows) == 1 + len(results)
    student = results["student"]
    assert f"{student['bilabial_closed']} of {student['bilabial_phones']}" in rows[1]


@needs_real_speech
def test_eval_probe_reports_an_auc_per_feature_set_and_set(tiny_models, capsys):
    data, models = tiny_models
    capsys.readouterr()
    assert main(["eval", "--probe", "--split", "test", "--models", str(models), "--data",
                 str(data), "--max-clips", "3", "--probe-clips", "8", "--lookahead-ms", "40",
                 "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["lookahead_ms"] == 40 and 0 < results["training_clips"] <= 8
    assert results["split"] == "test"
    for name in PROBE_FEATURES:
        assert set(results[name]) == {"training", "heldout_voices", "real_speech",
                                      "real_speech_within"}
        assert all(v is None or 0.0 <= v <= 1.0 for v in results[name].values())
        assert results[name]["real_speech"] is not None  # recordings hold p/b/m and more
    assert main(["eval", "--probe", "--models", str(models), "--data", str(data),
                 "--lookahead-ms", "30"]) == 2
    assert "multiple of 20" in capsys.readouterr().err


def test_eval_user_errors(tmp_path, capsys):
    assert main(["eval", "--audio", "x.wav"]) == 2
    assert "--text" in capsys.readouterr().err
    assert main(["eval", "--models", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "liveface: error:" in capsys.readouterr().err


@pytest.mark.parametrize("train_engines, by_speaker", [(None, None), (["piper"], True)])
def test_shipped_data_is_rebuilt_as_the_card_says(tmp_path, monkeypatch, train_engines,
                                                  by_speaker):
    """`liveface eval` without --data rebuilds the model card's data set; the build is
    replaced by a recorder here (a real 180-minute build takes minutes)."""
    from app.data import dataset_build
    from app.eval import eval_cli

    build = {"minutes": 180.0, "langs": ["en", "de"], "heldout_langs": ["it"],
             "engines": ["espeak-ng", "piper"], "seed": 1}
    if train_engines:
        build["train_engines"] = train_engines
    if by_speaker:
        build["by_speaker"] = by_speaker
    (tmp_path / "model-card.json").write_text(json.dumps({"data": {"build": build,
                                                                   "plan_hash": "f00d"}}))
    calls = []
    monkeypatch.setattr(dataset_build, "build_dataset",
                        lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = eval_cli.cached_data(tmp_path)
    (args, kwargs), = calls
    assert args == (out, 180.0, ("en", "de"), 1, ("it",), ("espeak-ng", "piper"))
    # a card from before speakers counted rebuilds its data split by engine voice
    assert kwargs == {"train_engines": tuple(train_engines or ()), "by_speaker": bool(by_speaker),
                      "word_share": 0.0, "voices": (), "expect_plan": "f00d"}
    assert str(out).startswith(str(tmp_path / "cache"))


def test_the_shipped_cards_data_plan_reproduces_from_its_voices():
    """`liveface eval` rebuilds the shipped model's data set from the card: with the card's
    voices listed, the plan is the card's whatever else is installed here."""
    from app.data.dataset import plan_clips, plan_hash
    from app.data.dataset_voices import resolve_request, voice_pools
    from app.data.speech import available_engines
    from app.resources import asset_path

    data = json.loads(asset_path("models", "model-card.json").read_text())["data"]
    build = data["build"]
    missing = set(build["engines"]) - set(available_engines())
    if missing:
        pytest.skip(f"engines not installed here: {', '.join(sorted(missing))}")
    args, _ = resolve_request(build["minutes"], tuple(build["langs"]), build["seed"],
                              tuple(build["heldout_langs"]), tuple(build["engines"]),
                              tuple(build.get("train_engines", ())),
                              bool(build.get("by_speaker", False)),
                              float(build.get("word_share", 0.0)), tuple(build["voices"]))
    assert plan_hash(args, plan_clips(args, voice_pools(args))) == data["plan_hash"]
