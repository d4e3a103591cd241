"""Recorded, transcribed speech as training and validation data.

The synthetic voices do not teach what a person's p/b/m sound like; a few Debian packages
hold a person's recordings with their words. Each corpus here is read from its package's
files, force-aligned with pocketsphinx (`app.data.align`), animated by the procedural
teacher and written as a data set in the format `liveface data build` writes (see
`app.data.dataset`), so training and evaluation read it like any other.

Corpora (Asterisk's core sounds: Debian `asterisk-core-sounds-XX-g722` holds the 16 kHz
audio, `asterisk-core-sounds-XX` the transcripts; studio speech, one speaker each):
- "asterisk-en": US English, recorded by Allison Smith, CC-BY-SA-3.0: 571 prompts,
  about 25 minutes.
- "asterisk-it": Italian, a man's voice, recorded by Carlo Flora, CC-BY-3.0: 599 prompts.
- "asterisk-ru": Russian, a woman's voice (credited to "Maxim"), CC-BY-3.0: 571 prompts.
  Never trained on: all of it is validation, a recorded speaker no model has heard.
- "asterisk-fr": Canadian French, recorded by June Wallack, CC-BY-SA-3.0: 526 prompts.
English aligns with pocketsphinx's own dictionary, the others through espeak-ng's
pronunciations (see `app.data.align`). Prompts that are tones, transcripts with letters
lost to a wrong encoding ("sar?" for "sarà") and prompts whose alignment fails are left
out (counted in the build's `skipped`).

Training windows are 1.92 s long, so prompts shorter than `CHAIN_S` in the train split are
also joined, in name order, into chains of at least `CHAIN_S` with `GAP_S` of silence
between them (ids "rec_chain_N"), animated by the teacher as one clip: what a person says in
a few short phrases with pauses. Splits are by prompt, fixed by a hash of its name: 85%
train, 15% validation (except a corpus kept whole for validation, `Corpus.split`). Such
validation prompts are new sentences of a speaker the model trained on: a check of what
recorded speech teaches; the Russian speaker is the unheard one, and the recorded test
set (`app.data.realspeech`) shares a speaker with no corpus here.
"""

import gzip
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.contract import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from app.audio.io import read_audio
from app.avatar.rig import RIG_NAMES
from app.data.dataset_files import (
    clip_paths,
    read_meta,
    timeline_to_dict,
    write_audio,
    write_json,
    write_npy,
)
from app.data.timeline import SILENCE, Phone, Timeline, Word
from app.errors import LivefaceError

FORMAT = "liveface-dataset/1"
VALIDATION_SHARE = 0.15
CHAIN_S = 3.0  # train prompts shorter than this are also joined into chains this long
GAP_S = 0.25  # silence between the prompts of a chain
ENGINE = "recorded"  # the manifest's engine for clips a person spoke


@dataclass(frozen=True)
class Corpus:
    name: str
    audio_dir: Path
    suffix: str
    transcripts: Path
    language: str
    speaker: str
    licence: str
    packages: str  # what to install
    split: str | None = None  # every prompt in this split; None: by a hash of the name


def _asterisk(language: str, folder: str, speaker: str, licence: str,
              split: str | None = None) -> Corpus:
    return Corpus(
        f"asterisk-{language}", Path(f"/usr/share/asterisk/sounds/{folder}"), ".g722",
        Path(f"/usr/share/doc/asterisk-core-sounds-{language}/core-sounds-{language}.txt.gz"),
        language, speaker, f"{licence} (Asterisk core sounds, {language})",
        f"asterisk-core-sounds-{language} asterisk-core-sounds-{language}-g722", split)


CORPORA = {
    "asterisk-en": _asterisk("en", "en_US_f_Allison", "allison-smith",
                             "CC-BY-SA-3.0, recorded by Allison Smith"),
    "asterisk-it": _asterisk("it", "it_IT_m_Carlo", "carlo-flora",
                             "CC-BY-3.0, recorded by Carlo Flora"),
    "asterisk-fr": _asterisk("fr", "fr_CA_f_June", "june-wallack",
                             "CC-BY-SA-3.0, recorded by June Wallack"),
    "asterisk-ru": _asterisk("ru", "ru_RU_f_IvrvoiceRU", "ivrvoice-ru",
                             "CC-BY-3.0, credited to Maxim", split="validation"),
}

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_LINE = re.compile(r"^(?P<name>[^\s:;]+):\s*(?P<text>.+)$")


@dataclass(frozen=True)
class Prompt:
    name: str  # the file's stem, relative to the corpus folder
    text: str  # words only, digits spelt out
    fixed_split: str | None = None

    @property
    def split(self) -> str:
        if self.fixed_split:
            return self.fixed_split
        share = zlib.crc32(self.name.encode()) % 1000 / 1000
        return "validation" if share < VALIDATION_SHARE else "train"


def spoken_text(text: str, language: str = "en") -> str | None:
    """The transcript as words the aligner takes: in English digits spelt out and '#' as
    'pound'; None for a prompt that is not speech ('[ascending tones]', '(3 seconds of
    silence)') or whose letters were lost ('?' inside a word)."""
    if "[" in text or text.strip().startswith("("):
        return None
    if language != "en":
        if re.search(r"\w\?\s*\w", text):
            return None
        return " ".join(re.findall(r"[\w'’-]+|[.,!?;:…]", text)) or None
    text = text.replace("#", " pound ").replace("*", " star ").replace("-", " ")
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text)
    words = re.findall(r"[A-Za-z']+", text)
    return " ".join(w.lower() for w in words) or None


def corpus_prompts(corpus: Corpus) -> list[Prompt]:
    """Every prompt with an audio file and a spoken transcript, in name order."""
    for path, package in ((corpus.audio_dir, "audio"), (corpus.transcripts, "transcripts")):
        if not path.exists():
            raise LivefaceError(f"the {corpus.name} corpus' {package} are missing ({path}); "
                                f"install them with 'apt-get install {corpus.packages}'.")
    prompts = {}
    listing = gzip.decompress(corpus.transcripts.read_bytes()).decode("utf-8-sig")
    for line in listing.splitlines():
        match = _LINE.match(line.strip())
        if not match or line.startswith(";"):
            continue
        said = re.sub(rf"^{re.escape(match['name'])}:\s*", "", match["text"])  # name twice
        text = spoken_text(said, corpus.language)
        if text and (corpus.audio_dir / f"{match['name']}{corpus.suffix}").is_file():
            prompts[match["name"]] = Prompt(match["name"], text, corpus.split)
    return [prompts[name] for name in sorted(prompts)]


def _clip_id(prompt: Prompt) -> str:
    return "rec_" + re.sub(r"[^A-Za-z0-9_-]", "_", prompt.name)


def build_recorded(out: Path, corpus_name: str = "asterisk-en", limit: int | None = None,
                   log=print) -> Path:
    """Align and animate every prompt of the corpus into the data set folder `out`
    (resumable: prompts already written are kept); returns the manifest's path."""
    from app.data.align import align
    from app.data.teacher import animate

    if corpus_name not in CORPORA:
        raise LivefaceError(f"unknown corpus {corpus_name!r}; choose one of {', '.join(CORPORA)}.")
    corpus = CORPORA[corpus_name]
    prompts = corpus_prompts(corpus)[:limit]
    clips_dir = Path(out) / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    entries, skipped = [], []
    for number, prompt in enumerate(prompts):
        paths = clip_paths(clips_dir, _clip_id(prompt))
        meta = read_meta(paths["meta"])
        if meta is None:
            audio = read_audio(corpus.audio_dir / f"{prompt.name}{corpus.suffix}")
            try:
                timeline = align(audio, prompt.text, corpus.language)
            except LivefaceError as err:
                skipped.append({"prompt": prompt.name, "why": str(err)})
                continue
            seed = zlib.crc32(prompt.name.encode())
            rig = animate(timeline, audio, seed=seed)
            write_audio(paths["audio"], audio)
            write_json(paths["timeline"], timeline_to_dict(timeline))
            write_npy(paths["rig"], rig)
            meta = {"prompt": prompt.name, "text": prompt.text, "frames": int(rig.shape[0]),
                    "duration_s": round(len(audio) / SAMPLE_RATE_HZ, 6), "seed": seed}
            write_json(paths["meta"], meta)
        if (number + 1) % 50 == 0:
            log(f"{number + 1} of {len(prompts)} prompts")
        entries.append(_entry(out, corpus, prompt, paths, meta))
    entries += _chains(Path(out), corpus, entries)
    return _write_manifest(Path(out), corpus, prompts, entries, skipped)


def _chains(out: Path, corpus: Corpus, entries: list[dict]) -> list[dict]:
    """Short train prompts joined into clips of at least CHAIN_S (see the module's doc)."""
    short = [e for e in entries if e["split"] == "train" and e["duration_s"] < CHAIN_S]
    groups, group = [], []
    for entry in short:
        group.append(entry)
        if sum(e["duration_s"] + GAP_S for e in group) >= CHAIN_S:
            groups.append(group)
            group = []
    return [_chain(out, corpus, number, group) for number, group in enumerate(groups)]


def _chain(out: Path, corpus: Corpus, number: int, group: list[dict]) -> dict:
    from app.data.dataset_files import timeline_from_dict
    from app.data.teacher import animate

    clip_id = f"rec_chain_{number:03d}"
    paths = clip_paths(out / "clips", clip_id)
    meta = read_meta(paths["meta"])
    names = [e["id"] for e in group]
    if meta is None or meta.get("parts") != names:
        gap = np.zeros(round(GAP_S * SAMPLE_RATE_HZ), np.float32)
        audios = [read_audio(out / e["audio"]) for e in group]
        timelines = [timeline_from_dict(json.loads((out / e["timeline"]).read_text()))
                     for e in group]
        audio = np.concatenate([part for a in audios for part in (a, gap)])
        timeline = joined_timeline(timelines, [len(a) / SAMPLE_RATE_HZ + GAP_S for a in audios])
        seed = zlib.crc32(clip_id.encode())
        rig = animate(timeline, audio, seed=seed)
        write_audio(paths["audio"], audio)
        write_json(paths["timeline"], timeline_to_dict(timeline))
        write_npy(paths["rig"], rig)
        meta = {"parts": names, "text": " / ".join(e["text"] for e in group),
                "frames": int(rig.shape[0]), "seed": seed,
                "duration_s": round(len(audio) / SAMPLE_RATE_HZ, 6)}
        write_json(paths["meta"], meta)
    return _entry(out, corpus, Prompt(clip_id[4:], meta["text"]), paths, meta) | {
        "id": clip_id, "split": "train"}


def joined_timeline(timelines: list[Timeline], lengths_s: list[float]) -> Timeline:
    """Timelines one after another, each `lengths_s` long (the gap after a part's own end is
    silence); silences that meet are merged."""
    phones, words, offset = [], [], 0.0
    for timeline, length_s in zip(timelines, lengths_s):
        parts = [*timeline.phones, Phone(timeline.duration_s, length_s, SILENCE)]
        for phone in parts:
            if phone.end_s <= phone.start_s:
                continue
            shifted = Phone(phone.start_s + offset, phone.end_s + offset, phone.phone,
                            phone.stress)
            if phones and shifted.phone == SILENCE and phones[-1].phone == SILENCE:
                shifted = Phone(phones[-1].start_s, shifted.end_s, SILENCE)
                phones.pop()
            phones.append(shifted)
        words += [Word(w.start_s + offset, w.end_s + offset, w.text) for w in timeline.words]
        offset += length_s
    return Timeline(tuple(phones), tuple(words), timelines[0].language, offset)


def _entry(out: Path, corpus: Corpus, prompt: Prompt, paths: dict, meta: dict) -> dict:
    return {**{kind: path.relative_to(out).as_posix() for kind, path in paths.items()},
            "id": _clip_id(prompt), "language": corpus.language, "voice": corpus.speaker,
            "engine": ENGINE, "voice_licence": corpus.licence, "emotion": "neutral",
            "intensity": 0.0, "duration_s": meta["duration_s"], "frames": meta["frames"],
            "split": prompt.split, "heldout": None, "text": prompt.text,
            "style_seed": meta["seed"]}


def _write_manifest(out: Path, corpus: Corpus, prompts: list[Prompt], entries: list[dict],
                    skipped: list[dict]) -> Path:
    listing = "\n".join(f"{p.name}\t{p.text}" for p in prompts)
    manifest = {
        "format": FORMAT,
        "build": {"recorded": corpus.name, "prompts": len(prompts), "skipped": skipped},
        "plan_hash": hashlib.sha256(listing.encode()).hexdigest(),
        "sample_rate_hz": SAMPLE_RATE_HZ, "frame_rate_hz": FRAME_RATE_HZ,
        "rig_names": list(RIG_NAMES), "clips": entries,
    }
    write_json(out / "manifest.json", manifest)
    return out / "manifest.json"


TAKE_MIN_S = 1.5  # a take is a phrase, not a single word


def export_takes(out: Path, corpus_name: str, enrol: int, check: int) -> tuple[int, int]:
    """The corpus' prompts of at least `TAKE_MIN_S` as two takes folders, OUT/enrol and
    OUT/check (a WAV and a .txt of its words each), as a person's recordings would be:
    `enrol` prompts to enrol with, then `check` others to judge the enrolment on. Prompts
    are taken in an order fixed by a hash of their names (not chosen by how they score);
    returns how many each folder got."""
    if corpus_name not in CORPORA:
        raise LivefaceError(f"unknown corpus {corpus_name!r}; choose one of {', '.join(CORPORA)}.")
    corpus = CORPORA[corpus_name]
    prompts = sorted(corpus_prompts(corpus), key=lambda p: zlib.crc32(p.name.encode()))
    chosen: list[tuple[Prompt, np.ndarray]] = []
    for prompt in prompts:
        if len(chosen) == enrol + check:
            break
        audio = read_audio(corpus.audio_dir / f"{prompt.name}{corpus.suffix}")
        if len(audio) >= TAKE_MIN_S * SAMPLE_RATE_HZ:
            chosen.append((prompt, audio))
    for number, (prompt, audio) in enumerate(chosen):
        folder = Path(out) / ("enrol" if number < enrol else "check")
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", prompt.name)
        write_audio(folder / f"{stem}.wav", audio)
        (folder / f"{stem}.txt").write_text(prompt.text + "\n", encoding="utf-8")
    return min(enrol, len(chosen)), max(0, len(chosen) - enrol)
