"""The data set build: manifest, splits, determinism, resume, and user errors.

One tiny build (a few espeak-ng clips) is shared by the module; the other tests build
next to it and compare bytes.
"""

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from app.audio.io import read_audio
from app.avatar.rig import RIG_SIZE
from app.data import dataset_build, dataset_voices
from app.data.dataset import (
    HELDOUT_LANGUAGES,
    HELDOUT_VOICES,
    SPLITS,
    BuildArgs,
    PoolVoice,
    build_dict,
    plan_clips,
)
from app.data.dataset_build import build_dataset
from app.data.dataset_files import timeline_from_dict
from app.data.dataset_manifest import load_manifest
from app.data.speech import available_engines
from app.errors import LivefaceError

pytestmark = pytest.mark.skipif("espeak-ng" not in available_engines(),
                                reason="espeak-ng is not installed")

TINY = {"minutes": 0.3, "langs": ("en", "de"), "seed": 3, "engines": ("espeak-ng",)}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "tiny"
    build_dataset(out, workers=2, **TINY)
    return out


def test_manifest_lists_every_clip_with_files_that_load(tiny):
    manifest = load_manifest(tiny)
    assert len(manifest.clips) >= 4
    assert sorted(p.name for p in tiny.iterdir()) == ["build.json", "clips", "manifest.json"]
    assert len(list((tiny / "clips").iterdir())) == 4 * len(manifest.clips)
    for entry in manifest.clips:
        audio = read_audio(manifest.path(entry.audio))
        assert abs(len(audio) / 16000 - entry.duration_s) < 1e-3
        rig = np.load(manifest.path(entry.rig))
        assert rig.dtype == np.float32 and rig.shape == (entry.frames, RIG_SIZE)
        assert abs(entry.frames - entry.duration_s * 50) <= 1
        timeline = timeline_from_dict(json.loads(manifest.path(entry.timeline).read_text()))
        assert timeline.language == entry.language and len(timeline.phones) > 3
        assert entry.voice_licence and entry.engine == "espeak-ng"


def test_splits_hold_out_voices_and_languages(tiny):
    clips = load_manifest(tiny).clips
    voices = {split: {(c.engine, c.voice) for c in clips if c.split == split} for split in SPLITS}
    assert all(voices[split] for split in SPLITS), "every split needs a clip"
    assert not voices["test"] & (voices["train"] | voices["validation"])
    assert not voices["validation"] & voices["train"]
    for clip in clips:
        if clip.language in ("it", "pt"):
            assert clip.split == "test" and clip.heldout == HELDOUT_LANGUAGES
        else:
            assert clip.language in TINY["langs"]
            assert clip.heldout == (HELDOUT_VOICES if clip.split == "test" else None)
    assert {c.language for c in clips if c.heldout == HELDOUT_LANGUAGES} == {"it", "pt"}


def test_plan_adds_up_to_the_minutes_and_depends_on_the_seed():
    pools = {lang: [PoolVoice("e", f"{lang}{k}", "MIT") for k in range(8)]
             for lang in ("en", "de", "fr", "es", "it", "pt")}
    args = BuildArgs(10.0, ("en", "de", "fr", "es"), ("it", "pt"), ("e",), 0)
    plan = plan_clips(args, pools)
    assert abs(sum(s.estimated_s for s in plan) - 600.0) < 0.2 * 600.0
    assert plan == plan_clips(args, pools)
    other = plan_clips(BuildArgs(10.0, args.langs, args.heldout_langs, ("e",), 1), pools)
    assert [s.text for s in other] != [s.text for s in plan]
    assert len({s.emotion for s in plan}) == 8 and len({s.id for s in plan}) == len(plan)


def test_plan_never_shares_a_voice_between_splits():
    pools = {lang: [PoolVoice("e", f"{lang}{k}", "MIT") for k in range(10)]
             for lang in ("en", "de", "it")}
    plan = plan_clips(BuildArgs(20.0, ("en", "de"), ("it",), ("e",), 5), pools)
    voices = {split: {s.voice for s in plan if s.split == split and s.language != "it"}
              for split in SPLITS}
    assert all(voices.values())
    assert not voices["test"] & (voices["train"] | voices["validation"])
    assert not voices["validation"] & voices["train"]
    assert {s.split for s in plan if s.language == "it"} == {"test"}


def test_train_engines_only_train_and_leave_the_other_splits_alone():
    pools = {lang: [PoolVoice("e", f"{lang}{k}", "MIT") for k in range(10)]
             + [PoolVoice("neural", f"{lang}-n", "MIT")] for lang in ("en", "de")}
    pools["it"] = [PoolVoice("e", "it0", "MIT")]
    plain_args = BuildArgs(20.0, ("en", "de"), ("it",), ("e", "neural"), 5)
    fixed_args = replace(plain_args, train_engines=("neural",))
    splits = {}
    for name, args in (("plain", plain_args), ("fixed", fixed_args)):
        plan = plan_clips(args, pools)
        splits[name] = {split: {s.voice for s in plan if s.split == split and s.language != "it"}
                        for split in SPLITS}
    assert {"en-n", "de-n"} <= splits["fixed"]["train"]
    assert not {"en-n", "de-n"} & (splits["fixed"]["test"] | splits["fixed"]["validation"])
    assert {"en-n", "de-n"} & (splits["plain"]["test"] | splits["plain"]["validation"])
    for split in ("test", "validation"):  # nobody else leaves test or validation
        assert splits["fixed"][split] >= splits["plain"][split] - {"en-n", "de-n"}
        assert len(splits["fixed"][split]) >= len(splits["plain"][split]) - 2
    assert not splits["fixed"]["test"] & (splits["fixed"]["train"] | splits["fixed"]["validation"])
    assert build_dict(plain_args) == {k: v for k, v in asdict(plain_args).items()
                                      if k not in ("train_engines", "by_speaker", "word_share",
                                                   "voices")}
    assert build_dict(fixed_args)["train_engines"] == ("neural",)
    with pytest.raises(LivefaceError, match="too few voices"):
        plan_clips(fixed_args, {**pools, "en": [PoolVoice("e", "a", "MIT"),
                                                PoolVoice("neural", "b", "MIT"),
                                                PoolVoice("neural", "c", "MIT")]})
    assert build_dict(fixed_args)["train_engines"] == ("neural",)


def test_voices_of_one_speaker_share_a_split():
    """flite and festival voice the same recordings (CMU's Kal and ARCTIC slt): by speaker,
    the two voices of one person never straddle splits; by engine voice, some seed splits
    them, which is what builds made before speakers counted did."""
    people = [PoolVoice("flite", "slt", "x"), PoolVoice("festival", "cmu_us_slt_arctic_hts", "x"),
              PoolVoice("flite", "kal16", "x"), PoolVoice("festival", "kal_diphone", "x")]
    pools = {"en": people + [PoolVoice("e", f"en{k}", "MIT") for k in range(8)],
             "de": [PoolVoice("e", f"de{k}", "MIT") for k in range(6)]}
    straddled = set()
    for seed in range(12):
        for by_speaker in (False, True):
            args = BuildArgs(10.0, ("en", "de"), (), ("e", "flite", "festival"), seed,
                             by_speaker=by_speaker)
            homes: dict[str, set[str]] = {}
            for spec in plan_clips(args, pools):
                speaker = PoolVoice(spec.engine, spec.voice, "").speaker
                homes.setdefault(speaker, set()).add(spec.split)
            apart = {person for person, splits in homes.items() if len(splits) > 1}
            if by_speaker:
                assert not apart, (seed, apart)
            straddled |= apart
        assert build_dict(replace(args, by_speaker=True))["by_speaker"] is True
    assert straddled & {"cmu-arctic-slt", "cmu-kal"}  # the old rule does split them
    assert PoolVoice("e", "en0", "MIT").speaker == "e/en0"  # a synthetic voice is its own


def test_word_share_sets_how_many_clips_say_frequent_words_instead_of_the_corpus():
    from app.data.speech import sentences

    pools = {lang: [PoolVoice("e", f"{lang}{k}", "MIT") for k in range(8)]
             for lang in ("en", "de", "it")}
    corpus = {lang: set(sentences(lang)) for lang in pools}

    def corpus_share(word_share: float) -> float:
        plan = plan_clips(BuildArgs(20.0, ("en", "de"), ("it",), ("e",), 2,
                                    word_share=word_share), pools)
        return np.mean([any(sentence in s.text for sentence in corpus[s.language])
                        for s in plan])

    assert corpus_share(0.0) == 1.0 and corpus_share(1.0) == 0.0
    assert 0.15 < corpus_share(0.7) < 0.45
    args = BuildArgs(20.0, ("en", "de"), ("it",), ("e",), 2, word_share=1.0)
    texts = [s.text for s in plan_clips(args, pools)]
    assert len(set(texts)) == len(texts)  # every clip says something new
    assert texts == [s.text for s in plan_clips(args, pools)]  # and the seed fixes it
    assert build_dict(args)["word_share"] == 1.0


@pytest.mark.parametrize("legacy", [{"by_speaker": False}, {"word_share": 0.0},
                                    {"voices": ()}])
def test_a_folder_begun_by_an_older_rule_is_finished_by_it(tmp_path, legacy):
    """A build begun before splits kept speakers together, or before word-list text, is
    finished with the rule it began with, whatever today's defaults are."""
    out = tmp_path / "old"
    build_dataset(out, workers=1, **legacy, **TINY)
    assert not set(legacy) & set(json.loads((out / "build.json").read_text())["build"])
    before = _files(out)
    victim = load_manifest(out).clips[0]
    (out / victim.meta).unlink()
    (out / "manifest.json").unlink()
    assert build_dataset(out, workers=1, **TINY).synthesised == 1  # the default rule resumes it
    assert _files(out) == before


def test_same_seed_gives_identical_files_and_another_seed_differs(tiny, tmp_path):
    build_dataset(tmp_path / "again", workers=1, **TINY)
    assert _files(tmp_path / "again") == _files(tiny)
    build_dataset(tmp_path / "other", workers=1, **{**TINY, "seed": 4})
    assert _files(tmp_path / "other")["manifest.json"] != _files(tiny)["manifest.json"]


def test_resume_finishes_missing_clips_and_keeps_the_rest(tiny, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(tiny, out)
    victim = load_manifest(out).clips[1]
    (out / victim.audio).unlink()
    (out / victim.meta).unlink()
    (out / "manifest.json").unlink()
    (out / "clips" / "stray.wav.tmp-123").write_bytes(b"half")
    result = build_dataset(out, workers=1, **TINY)
    assert result.synthesised == 1 and result.clips == len(load_manifest(tiny).clips)
    assert _files(out) == _files(tiny)


def test_refuses_to_resume_with_other_arguments(tiny, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(tiny, out)
    with pytest.raises(LivefaceError, match="other arguments"):
        build_dataset(out, workers=1, **{**TINY, "seed": 9})
    assert _files(out) == _files(tiny)


@pytest.mark.parametrize("change, message", [
    ({"langs": ("en", "xx")}, "unknown language 'xx'; available: en, de"),
    ({"minutes": 0}, "above 0"),
    ({"minutes": -1.0}, "above 0"),
    ({"heldout_langs": ("en",)}, "both a training and a held-out"),
    ({"engines": ("nope",)}, "unknown speech engine"),
    ({"word_share": 1.5}, "between 0 and 1"),
])
def test_bad_requests_are_user_errors_that_write_nothing(tmp_path, change, message):
    with pytest.raises(LivefaceError, match=message):
        build_dataset(tmp_path / "new", workers=1, **{**TINY, **change})
    assert not (tmp_path / "new").exists()


def test_a_build_records_its_voices_and_a_rebuild_draws_on_those_alone(tiny, tmp_path,
                                                                      monkeypatch):
    """Voices installed later (another festvox package, say) must not move a recorded
    build's splits: the rebuild draws on the recorded voices, and one that is missing is
    named in the error."""
    build = json.loads((tiny / "build.json").read_text())["build"]
    pools = dataset_voices.voice_pools(BuildArgs(TINY["minutes"], TINY["langs"], ("it", "pt"),
                                                 TINY["engines"], TINY["seed"]))
    assert tuple(build["voices"]) == dataset_voices.pool_ids(pools)
    assert all(v.startswith("espeak-ng/") for v in build["voices"])
    real_pool = dataset_voices._pool

    def one_more_voice(language, engines):
        return real_pool(language, engines) + [PoolVoice("espeak-ng", f"{language}+new", "x")]

    monkeypatch.setattr(dataset_voices, "_pool", one_more_voice)
    shutil.copytree(tiny, tmp_path / "again")
    (tmp_path / "again" / "manifest.json").unlink()
    rebuilt = build_dataset(tmp_path / "again", workers=1, voices=tuple(build["voices"]), **TINY)
    assert rebuilt.synthesised == 0 and _files(tmp_path / "again") == _files(tiny)
    with pytest.raises(LivefaceError, match="other arguments"):  # unpinned: another plan
        build_dataset(tmp_path / "again", workers=1, **TINY)
    with pytest.raises(LivefaceError, match="1 voice.*not installed here.*espeak-ng/en[+]gone"):
        build_dataset(tmp_path / "gone", workers=1,
                      voices=tuple(build["voices"]) + ("espeak-ng/en+gone",), **TINY)
    assert not (tmp_path / "gone").exists()


def test_a_rebuild_that_would_plan_otherwise_is_refused_before_writing(tiny, tmp_path):
    """Eval rebuilds the model's data set from its card: other installed voices would plan
    other splits, so a plan that differs from the expected one is an error."""
    expected = json.loads((tiny / "build.json").read_text())["plan_hash"]
    with pytest.raises(LivefaceError, match="plan another data set"):
        build_dataset(tmp_path / "other", workers=1, expect_plan="0" * 64, **TINY)
    assert not (tmp_path / "other").exists()
    shutil.copytree(tiny, tmp_path / "same")
    assert build_dataset(tmp_path / "same", workers=1, expect_plan=expected,
                         **TINY).synthesised == 0


def test_refuses_a_non_empty_folder_that_is_not_a_data_set(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LivefaceError, match="not empty"):
        build_dataset(tmp_path, workers=1, **TINY)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("failure", [LivefaceError("engine broke"), KeyboardInterrupt()])
def test_failure_midway_leaves_only_complete_clips(tmp_path, monkeypatch, failure):
    calls = []
    real_write_npy = dataset_build.write_npy

    def failing_write_npy(path, array):
        calls.append(path)
        if len(calls) == 2:  # the second clip fails after its audio and timeline are written
            raise failure
        real_write_npy(path, array)

    monkeypatch.setattr(dataset_build, "write_npy", failing_write_npy)
    with pytest.raises(type(failure)):
        build_dataset(tmp_path / "d", workers=1, **TINY)
    names = sorted(p.name for p in (tmp_path / "d" / "clips").iterdir())
    first = calls[0].name.split(".")[0]
    assert names == sorted(f"{first}{s}" for s in (".wav", ".timeline.json", ".rig.npy", ".json"))
    assert not (tmp_path / "d" / "manifest.json").exists()


def test_missing_default_engine_is_skipped_but_a_requested_one_is_an_error(monkeypatch):
    real_get_engine = dataset_voices.get_engine

    def get_engine(name):
        if name == "piper":
            raise LivefaceError("piper is not installed: pip install piper-tts")
        return real_get_engine(name)

    monkeypatch.setattr(dataset_voices, "get_engine", get_engine)
    names, warnings = dataset_voices.resolve_engines(None)
    assert "piper" not in names and "espeak-ng" in names
    assert len(warnings) == 1 and "piper" in warnings[0]
    with pytest.raises(LivefaceError, match="pip install piper-tts"):
        dataset_voices.resolve_engines(("espeak-ng", "piper"))


def test_evaluation_leaves_out_held_out_voices_whose_speaker_trained(tiny, tmp_path):
    from app.eval.evaluate import heldout_clips

    out = tmp_path / "shared"
    shutil.copytree(tiny, out)
    manifest = json.loads((out / "manifest.json").read_text())
    train = next(c for c in manifest["clips"] if c["split"] == "train")
    test = [c for c in manifest["clips"] if c["heldout"] == HELDOUT_VOICES]
    assert test, "the tiny build holds held-out voices"
    before = [c.id for c in heldout_clips(out, HELDOUT_VOICES, 50)]
    train.update(engine="festival", voice="kal_diphone")
    test[0].update(engine="flite", voice="kal16")  # the same speaker, Kal
    (out / "manifest.json").write_text(json.dumps(manifest))
    after = [c.id for c in heldout_clips(out, HELDOUT_VOICES, 50)]
    assert after == [i for i in before if i != test[0]["id"]]
