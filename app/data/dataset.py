"""The data set plan: which clips to synthesise, in which voice and emotion, and in which split.

`liveface data build` first makes a plan, deterministic from the seed and the installed
voices, then synthesises it (`dataset_build`). The plan is a list of `ClipSpec`s that add
up to about the asked minutes (speech length estimated from the text and speaking rate).

Text: each clip says one or two sentences, of the built-in corpus (five per language) or,
for a `word_share` of the clips (0.7 for new builds), pseudo-sentences of the language's
frequent words (`word_text`), so that the model hears thousands of words instead of a few
hundred, and held-out voices are not tested on the very sentences the model trained on.

Splits are by voice and by language, so test numbers measure speakers and languages the
model never heard:
- every voice of a training language belongs to exactly one split: most to "train", at
  least one to "validation", and at least one to "test" (`heldout = "heldout_voices"`);
  voices of one person share a split (`speaker_of`: flite and festival voice two of the
  same CMU recordings), so a held-out voice is an unheard speaker, not a new synthesiser;
- the held-out languages (default: it and pt) are synthesised with a smaller share and
  are only in "test" (`heldout = "heldout_languages"`);
- the voices of `train_engines` (`--train-engines`, none by default) go to "train" only.
  The one neural voice (piper) sounds far more like a person than the formant and diphone
  voices; when recorded speech is the test of natural speech, it teaches more in training
  than it measures in the held-out voices.

Layout of a built DIR (all paths in the manifest are relative to DIR):

    DIR/build.json                 the build arguments and plan hash (written first)
    DIR/clips/<id>.wav             16-bit PCM mono, 16 kHz
    DIR/clips/<id>.timeline.json   {"language", "duration_s", "phones": [[start_s, end_s,
                                    phone, stress], ...], "words": [[start_s, end_s, text]]}
    DIR/clips/<id>.rig.npy         float32 (frames, 57) teacher track at 50 fps
    DIR/clips/<id>.json            the clip's spec, spec hash, samples, frames, duration_s
                                   (written last: a clip is complete when it exists)
    DIR/manifest.json              written once every clip is complete

manifest.json:

    {"format": "liveface-dataset/1",
     "build": {"minutes", "langs", "heldout_langs", "engines", "seed"[, "train_engines"]
               [, "by_speaker"][, "word_share"][, "voices"]},
     "plan_hash": sha256 of the build arguments and every clip spec,
     "sample_rate_hz": 16000, "frame_rate_hz": 50, "rig_names": [57 names],
     "clips": [{"id", "audio", "timeline", "rig", "meta", "language", "voice", "engine",
                "voice_licence", "emotion", "intensity", "duration_s", "frames", "split",
                "heldout", "text", "style_seed"}, ...]}

`split` is "train", "validation" or "test"; `heldout` is null, "heldout_voices" or
"heldout_languages". Nothing in any file depends on the clock or the worker count, so the
same arguments give byte-identical files.
"""

import hashlib
import json
import zlib
from dataclasses import asdict, dataclass

import numpy as np

from app.avatar.emotions import EMOTIONS
from app.data.speech import Prosody, prosody_for_emotion, sentences
from app.data.speech.registry import speaker_of
from app.data.speech.word_text import word_sentence
from app.errors import LivefaceError

SPLITS = ("train", "validation", "test")
SPLIT_SHARES = {"train": 0.75, "validation": 0.10, "test": 0.15}  # of training-language time
HELDOUT_VOICES, HELDOUT_LANGUAGES = "heldout_voices", "heldout_languages"
HELDOUT_LANGUAGE_SHARE = 0.10  # of all time, shared by the held-out languages
TEST_VOICE_SHARE, VALIDATION_VOICE_SHARE = 0.2, 0.1  # of each training language's voices
MIN_VOICES = 3  # one voice per split
CHARS_PER_S = 18.5  # speech length estimate at rate 1 (fitted on espeak-ng en, de, fr, es)
PAUSE_S = 0.35  # leading and trailing silence of a clip
NEUTRAL_WEIGHT = 2.0  # neutral is drawn twice as often as each other emotion
INTENSITY_RANGE = (0.3, 1.0)
EMPHASIS_CHANCE = 0.3  # clips with one SSML-emphasised word (engines without SSML ignore it)


@dataclass(frozen=True)
class BuildArgs:
    """What the output depends on (the worker count does not change any file)."""

    minutes: float
    langs: tuple[str, ...]
    heldout_langs: tuple[str, ...]
    engines: tuple[str, ...]
    seed: int
    train_engines: tuple[str, ...] = ()  # engines whose voices are never held out
    # Voices of one person share a split (`speaker_of`). `liveface data build` always sets
    # it; False is how builds made before it existed split (by engine voice alone).
    by_speaker: bool = False
    # The share of clips whose text is pseudo-sentences of frequent words (`word_text`)
    # instead of the corpus's sentences; 0 is how builds made before it existed read.
    word_share: float = 0.0
    # Every voice the plan may draw from, as "engine/voice", in pool order: a build records
    # the voices installed when it began, so that a rebuild elsewhere draws the same plan or
    # says which voice is missing. Empty: whatever is installed (builds made before it).
    voices: tuple[str, ...] = ()


# Arguments added after the first builds, with the value that reproduces builds made before.
LEGACY_VALUES = {"train_engines": (), "by_speaker": False, "word_share": 0.0, "voices": ()}
# Rules a build folder begun before them is finished without (train_engines is a request).
LATER_RULES = ("by_speaker", "word_share", "voices")


def legacy_arguments(build: dict) -> dict:
    """The later arguments of stored build arguments, their legacy values where absent."""
    return {name: build.get(name, legacy) for name, legacy in LEGACY_VALUES.items()}


def build_dict(args: BuildArgs) -> dict:
    """The arguments as stored in build.json and the manifest; a later argument only when it
    differs from its legacy value, so builds made before it existed keep their plan hash."""
    data = asdict(args)
    for name, legacy in LEGACY_VALUES.items():
        if data[name] == legacy:
            del data[name]
    return data


@dataclass(frozen=True)
class PoolVoice:
    engine: str
    voice: str
    licence: str

    @property
    def speaker(self) -> str:
        return speaker_of(self.engine, self.voice)

    @property
    def id(self) -> str:
        return f"{self.engine}/{self.voice}"


@dataclass(frozen=True)
class ClipSpec:
    id: str
    engine: str
    language: str
    voice: str
    voice_licence: str
    text: str
    emotion: str
    intensity: float
    prosody: Prosody
    style_seed: int
    split: str
    heldout: str | None
    estimated_s: float


def spec_to_dict(spec: ClipSpec) -> dict:
    return asdict(spec)


def spec_from_dict(data: dict) -> ClipSpec:
    prosody = dict(data["prosody"])
    prosody["emphasised_words"] = tuple(prosody["emphasised_words"])
    return ClipSpec(**{**data, "prosody": Prosody(**prosody)})


def spec_hash(spec: ClipSpec) -> str:
    return _sha256(spec_to_dict(spec))


def plan_hash(args: BuildArgs, specs: list[ClipSpec]) -> str:
    return _sha256({"build": build_dict(args), "clips": [spec_to_dict(s) for s in specs]})


def _sha256(data) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def plan_clips(args: BuildArgs, pools: dict[str, list[PoolVoice]]) -> list[ClipSpec]:
    """Clip specs adding up to about `args.minutes` (and at least one clip per split);
    `pools` holds each language's voices in a fixed order (`langs` and `heldout_langs`)."""
    rng = np.random.default_rng([args.seed, 0xDA7A])
    budget_s = args.minutes * 60.0
    heldout_s = HELDOUT_LANGUAGE_SHARE * budget_s if args.heldout_langs else 0.0
    voice_splits = {lang: split_voices(pools[lang], rng, args.train_engines, args.by_speaker)
                    for lang in args.langs}
    specs: list[ClipSpec] = []
    counts = dict.fromkeys(SPLITS, 0.0)
    while sum(s.estimated_s for s in specs) < budget_s - heldout_s or not all(counts.values()):
        language = args.langs[len(specs) % len(args.langs)]
        split = _next_split(counts)
        voice = pick_voice(rng, voice_splits[language][split])
        heldout = HELDOUT_VOICES if split == "test" else None
        specs.append(_draw_clip(rng, args.seed, _clip_id(language, specs), voice, language,
                                split, heldout, args.word_share))
        counts[split] += specs[-1].estimated_s
    specs += _plan_heldout_languages(rng, args, pools, heldout_s)
    return specs


def _plan_heldout_languages(rng, args: BuildArgs, pools, heldout_s: float) -> list[ClipSpec]:
    """At least one clip per held-out language, then more until their share is spent."""
    specs: list[ClipSpec] = []
    langs = args.heldout_langs
    while langs and (len(specs) < len(langs) or sum(s.estimated_s for s in specs) < heldout_s):
        language = langs[len(specs) % len(langs)]
        voice = pick_voice(rng, pools[language])
        specs.append(_draw_clip(rng, args.seed, _clip_id(language, specs), voice, language,
                                "test", HELDOUT_LANGUAGES, args.word_share))
    return specs


def _clip_id(language: str, specs: list[ClipSpec]) -> str:
    return f"{language}_{sum(s.language == language for s in specs):04d}"


def split_voices(pool: list[PoolVoice], rng: np.random.Generator,
                 train_engines: tuple[str, ...] = (), by_speaker: bool = False
                 ) -> dict[str, list[PoolVoice]]:
    """Each voice into one split: a shuffled pool, test and validation voices first. The
    voices of `train_engines` move to the training split from wherever they fell. With
    `by_speaker`, every voice of one person joins the split of the first of them in the
    shuffled pool (or training, when one of them is fixed there). The other voices keep
    their splits, except that a split left empty takes the first training voice (and, by
    speaker, that voice's whole person)."""
    order = [pool[i] for i in rng.permutation(len(pool))]
    n_test = max(1, round(TEST_VOICE_SHARE * len(pool)))
    n_val = max(1, round(VALIDATION_VOICE_SHARE * len(pool)))
    person = (lambda v: v.speaker) if by_speaker else (lambda v: v)
    fixed_people = {person(v) for v in order if v.engine in train_engines}
    fixed = [v for v in order if person(v) in fixed_people]
    home: dict = {}  # person -> the split of their first voice in the shuffled pool
    for i, voice in enumerate(order):
        home.setdefault(person(voice), "test" if i < n_test else
                        "validation" if i < n_test + n_val else "train")
    splits = {name: [v for v in order if home[person(v)] == name and v not in fixed]
              for name in SPLITS}
    for name in ("test", "validation"):
        if not splits[name]:
            if not splits["train"]:
                raise LivefaceError(
                    "too few voices (or speakers) besides those of "
                    f"{', '.join(train_engines) or 'the other splits'} to hold one out for "
                    "validation and one for test; add engines or drop --train-engines.")
            first = person(splits["train"][0])
            splits[name] += [v for v in splits["train"] if person(v) == first]
            splits["train"] = [v for v in splits["train"] if person(v) != first]
    splits["train"] += fixed
    return splits


def pick_voice(rng: np.random.Generator, voices: list[PoolVoice]) -> PoolVoice:
    """A voice with every engine equally likely (espeak-ng alone has a dozen per language)."""
    per_engine = {engine: sum(v.engine == engine for v in voices) for engine in
                  {v.engine for v in voices}}
    weights = np.array([1.0 / per_engine[v.engine] for v in voices])
    return voices[int(rng.choice(len(voices), p=weights / weights.sum()))]


def _next_split(seconds: dict[str, float]) -> str:
    """The split furthest below its share of the time planned so far (ties: SPLITS order)."""
    total = sum(seconds.values()) + 1e-9
    return max(SPLITS, key=lambda split: SPLIT_SHARES[split] - seconds[split] / total)


def _draw_clip(rng: np.random.Generator, seed: int, clip_id: str, voice: PoolVoice,
               language: str, split: str, heldout: str | None, word_share: float = 0.0
               ) -> ClipSpec:
    text = _draw_text(rng, language, word_share)
    weights = np.array([NEUTRAL_WEIGHT if e == "neutral" else 1.0 for e in EMOTIONS])
    emotion = str(EMOTIONS[int(rng.choice(len(EMOTIONS), p=weights / weights.sum()))])
    intensity = 0.0 if emotion == "neutral" else round(float(rng.uniform(*INTENSITY_RANGE)), 3)
    prosody = clip_prosody(rng, seed, voice, emotion, intensity, text)
    estimated_s = round(len(text) / (CHARS_PER_S * prosody.rate) + PAUSE_S, 3)
    return ClipSpec(clip_id, voice.engine, language, voice.voice, voice.licence, text, emotion,
                    intensity, prosody, int(rng.integers(2**31)), split, heldout, estimated_s)


def _draw_text(rng: np.random.Generator, language: str, word_share: float) -> str:
    """One or two sentences: the corpus's, or (a `word_share` of clips) pseudo-sentences of
    frequent words. With no word share, the draws are those of builds made before it."""
    sentence_count = 1 + int(rng.random() < 0.4)
    if word_share and rng.random() < word_share:
        return " ".join(word_sentence(rng, language) for _ in range(sentence_count))
    pool = sentences(language)
    chosen = rng.choice(len(pool), size=sentence_count, replace=False)
    return " ".join(pool[i] for i in sorted(chosen))


def clip_prosody(rng: np.random.Generator, seed: int, voice: PoolVoice, emotion: str,
                 intensity: float, text: str) -> Prosody:
    """The voice's own speaker offsets (fixed per voice and seed) times the emotion's
    prosody with a per-clip spread, and sometimes one emphasised word."""
    speaker = speaker_offsets(seed, voice)
    felt = prosody_for_emotion(emotion, intensity, rng)
    emphasis: tuple[int, ...] = ()
    if rng.random() < EMPHASIS_CHANCE:
        emphasis = (int(rng.integers(len(text.split()))),)
    return Prosody(rate=round(felt.rate * speaker[0], 4), pitch=round(felt.pitch * speaker[1], 4),
                   pitch_range=round(felt.pitch_range * speaker[2], 4),
                   volume=round(felt.volume, 4), emphasised_words=emphasis)


def speaker_offsets(seed: int, voice: PoolVoice) -> tuple[float, float, float]:
    """(rate, pitch, pitch range) factors that make one voice a consistent speaker."""
    key = zlib.crc32(f"{voice.engine}/{voice.voice}".encode())
    spread = np.random.default_rng([seed, key]).normal(0.0, [0.07, 0.10, 0.15])
    return tuple(float(f) for f in np.exp(spread))
