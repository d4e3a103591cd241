"""Which engines, languages and voices a data set build uses; user errors for bad requests.

A language is available when the built-in corpus has sentences for it and an installed
engine speaks it. espeak-ng speaks them all, with a curated set of its voice variants
(male, female and klatt-synthesis voices; the novelty voices are left out, and so are
variants with breath noise, which espeak-ng seeds from the clock, so that a seed gives the
same audio on every run); flite and piper add English voices, festival English, Russian,
Italian, Czech, Finnish and Catalan ones (whichever festvox packages are installed).
"""

import math
import re
from functools import cache
from pathlib import Path

from app.data.dataset import MIN_VOICES, BuildArgs, PoolVoice
from app.data.speech import ENGINES, SpeechEngine, get_engine
from app.data.speech.corpus import LANGUAGES
from app.data.speech.espeak_library import locate
from app.errors import LivefaceError

DEFAULT_HELDOUT_LANGS = ("it", "pt")
DEFAULT_WORD_SHARE = 0.7  # of clips whose text is frequent words rather than the corpus's
HELDOUT_LANGUAGE_COUNT = 2
_ESPEAK_VARIANT = re.compile(r"^(m[1-7]|f[1-5]|klatt[234]?)$")


def resolve_request(minutes: float, langs: tuple[str, ...], seed: int,
                    heldout_langs: tuple[str, ...] | None,
                    engines: tuple[str, ...] | None,
                    train_engines: tuple[str, ...] = (), by_speaker: bool = True,
                    word_share: float = DEFAULT_WORD_SHARE, voices: tuple[str, ...] = ()
                    ) -> tuple[BuildArgs, tuple[str, ...]]:
    """The checked build arguments, and warnings for default engines that are missing."""
    if not isinstance(minutes, (int, float)) or not math.isfinite(minutes) or minutes <= 0:
        raise LivefaceError(f"--minutes must be a number above 0, got {minutes}.")
    if not isinstance(word_share, (int, float)) or not 0.0 <= word_share <= 1.0:
        raise LivefaceError(f"--word-share must be between 0 and 1, got {word_share}.")
    names, warnings = resolve_engines(engines)
    available = available_languages(names)
    langs = _unique(langs)
    if not langs:
        raise LivefaceError("give at least one language with --langs, e.g. en,de,fr,es.")
    _check_known(langs, available)
    heldout = _heldout(langs, heldout_langs, available)
    train_engines = _unique(train_engines)
    unused = [name for name in train_engines if name not in names]
    if unused:
        raise LivefaceError(f"--train-engines names {', '.join(unused)}, which this build does "
                            f"not use (engines: {', '.join(names)}).")
    return (BuildArgs(float(minutes), langs, heldout, names, int(seed), train_engines,
                      bool(by_speaker), float(word_share), tuple(voices)), warnings)


def resolve_engines(requested: tuple[str, ...] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Installed engines: a requested one that is missing is an error; a default one that is
    missing is skipped with a warning."""
    if requested is not None:
        names = _unique(requested)
        for name in names:
            get_engine(name)  # raises with an install hint
        if not names:
            raise LivefaceError("give at least one engine with --engines.")
        return names, ()
    found, warnings = [], []
    for name in ENGINES:
        try:
            get_engine(name)
        except LivefaceError as err:
            warnings.append(f"skipping speech engine {name}: {err}")
            continue
        found.append(name)
    if not found:
        raise LivefaceError("no speech engine is installed; pip install espeakng-loader.")
    return tuple(found), tuple(warnings)


def available_languages(engines: tuple[str, ...]) -> tuple[str, ...]:
    """Corpus languages that one of the engines speaks, in corpus order."""
    spoken = set()
    for name in engines:
        spoken |= set(get_engine(name).languages())
    return tuple(lang for lang in LANGUAGES if lang in spoken)


def _check_known(langs: tuple[str, ...], available: tuple[str, ...]) -> None:
    for lang in langs:
        if lang not in available:
            raise LivefaceError(f"unknown language '{lang}'; available: {', '.join(available)}.")


def _heldout(langs: tuple[str, ...], requested: tuple[str, ...] | None,
             available: tuple[str, ...]) -> tuple[str, ...]:
    if requested is None:
        others = [lang for lang in DEFAULT_HELDOUT_LANGS + available
                  if lang in available and lang not in langs]
        return _unique(tuple(others))[:HELDOUT_LANGUAGE_COUNT]
    heldout = _unique(requested)
    _check_known(heldout, available)
    both = sorted(set(heldout) & set(langs))
    if both:
        raise LivefaceError(f"{', '.join(both)} cannot be both a training and a held-out "
                            "language; remove it from --langs or --heldout-langs.")
    return heldout


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


def voice_pools(args: BuildArgs) -> dict[str, list[PoolVoice]]:
    """Every language's voices in a fixed order (only `args.voices` when the build lists
    them); a training language needs MIN_VOICES."""
    engines = {name: get_engine(name) for name in args.engines}
    pools = {lang: _pool(lang, engines) for lang in args.langs + args.heldout_langs}
    if args.voices:
        pools = _only(pools, args.voices)
    for lang in args.langs:
        if len(pools[lang]) < MIN_VOICES:
            raise LivefaceError(
                f"language '{lang}' has {len(pools[lang])} voice(s) with engines "
                f"{', '.join(args.engines)}; splitting by voice needs {MIN_VOICES}: "
                "add --engines espeak-ng.")
    return pools


def pool_ids(pools: dict[str, list[PoolVoice]]) -> tuple[str, ...]:
    """Every voice of the pools as "engine/voice", in pool order (a build's `voices`)."""
    return tuple(dict.fromkeys(v.id for pool in pools.values() for v in pool))


def _only(pools: dict[str, list[PoolVoice]], voices: tuple[str, ...]
          ) -> dict[str, list[PoolVoice]]:
    installed = set(pool_ids(pools))
    missing = [v for v in voices if v not in installed]
    if missing:
        raise LivefaceError(
            f"this build draws on {len(missing)} voice(s) not installed here "
            f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}); install "
            "them (see the engines' install hints) or build another data set.")
    wanted = set(voices)
    return {lang: [v for v in pool if v.id in wanted] for lang, pool in pools.items()}


def _pool(language: str, engines: dict[str, SpeechEngine]) -> list[PoolVoice]:
    pool = []
    for name, engine in engines.items():
        if language not in engine.languages():
            continue
        for voice in sorted(engine.voices(language), key=lambda v: v.id):
            if name != "espeak-ng" or _wanted_espeak_voice(voice.id):
                pool.append(PoolVoice(name, voice.id, voice.licence))
    return pool


def _wanted_espeak_voice(voice_id: str) -> bool:
    _, plus, variant = voice_id.partition("+")
    return not plus or (bool(_ESPEAK_VARIANT.match(variant)) and not _breathy(variant))


@cache
def _breathy(variant: str) -> bool:
    """Whether an espeak-ng voice variant adds breath noise (a `breath` line not all 0)."""
    paths = locate()
    path = Path(paths[1]) / "voices" / "!v" / variant if paths else None
    if path is None or not path.is_file():
        return False
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if parts[:1] == ["breath"] and any(value != "0" for value in parts[1:]):
            return True
    return False
