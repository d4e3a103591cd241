"""What every speech engine promises: a `Clip` of 16 kHz audio with its phone timeline.

An engine is anything with `name`, `languages()`, `voices(language)` and
`synthesize(text, language, voice, prosody)`. The helpers below are what engines share:
input checks that raise `LivefaceError`, resampling to the audio contract, and turning
timed engine segments into a gap-free `Timeline`.
"""

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.data.timeline import SILENCE, Phone, Timeline, Word
from app.errors import LivefaceError

SILENT_PEAK = 1e-3  # a clip whose loudest sample is below this is silent (full scale = 1)


@dataclass(frozen=True)
class Prosody:
    """How to speak, relative to the voice's own defaults (1.0 = unchanged).

    `rate` scales the speaking rate (espeak-ng's default is 175 words per minute; see
    `from_words_per_minute`), `pitch` the base pitch, `pitch_range` the intonation range,
    `volume` the loudness. `emphasised_words` are indices of whitespace-separated words
    spoken with SSML `<emphasis>`; engines without SSML ignore it.
    """

    rate: float = 1.0
    pitch: float = 1.0
    pitch_range: float = 1.0
    volume: float = 1.0
    emphasised_words: tuple[int, ...] = ()

    @staticmethod
    def from_words_per_minute(words_per_minute: float, **others) -> "Prosody":
        return Prosody(rate=words_per_minute / DEFAULT_WORDS_PER_MINUTE, **others)


DEFAULT_WORDS_PER_MINUTE = 175.0


@dataclass(frozen=True)
class Voice:
    id: str  # what `synthesize(voice=...)` takes, e.g. "en+f2" or "cmu_us_slt"
    language: str
    gender: str | None = None  # "male", "female", or None where the engine does not say
    licence: str = ""  # SPDX id, or the licence's text where it has none


@dataclass(frozen=True, eq=False)
class Clip:
    audio: np.ndarray  # float32 mono at SAMPLE_RATE_HZ
    timeline: Timeline
    language: str
    voice: str  # Voice.id
    engine: str
    voice_licence: str
    prosody: Prosody = field(default_factory=Prosody)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE_HZ


@runtime_checkable
class SpeechEngine(Protocol):
    name: str

    def languages(self) -> tuple[str, ...]: ...

    def voices(self, language: str) -> list[Voice]: ...

    def synthesize(
        self, text: str, language: str, voice: str | None = None, prosody: Prosody | None = None
    ) -> Clip: ...


@dataclass(frozen=True)
class Segment:
    """One timed engine phone, already in the shared set."""

    start_s: float
    end_s: float
    phone: str
    stress: int = 0
    word: int = -1  # the engine's key for the word the phone belongs to, -1 for none


def check_text(text: str) -> str:
    """The text with outer whitespace removed; empty text is a user error."""
    if not isinstance(text, str) or not text.strip():
        raise LivefaceError("the text to speak is empty; give at least one word.")
    return text.strip()


def check_language(language: str, engine: str, languages: tuple[str, ...]) -> None:
    if language not in languages:
        raise LivefaceError(
            f"{engine} does not speak language '{language}'; "
            f"choose one of: {', '.join(languages)}."
        )


def check_voice(voice: str, language: str, engine: str, voices: list[Voice]) -> Voice:
    for known in voices:
        if known.id == voice:
            return known
    ids = ", ".join(known.id for known in voices[:40])
    raise LivefaceError(
        f"{engine} has no voice '{voice}' for language '{language}'; choose one of: {ids}."
    )


def to_contract_audio(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """Mono float32 at SAMPLE_RATE_HZ within [-1, 1]; int16 input is scaled to full scale 1."""
    audio = np.asarray(audio)
    if audio.dtype == np.int16:
        audio = audio.astype(np.float32) / 32768.0
    audio = audio.astype(np.float32).reshape(-1)
    if rate_hz == SAMPLE_RATE_HZ:
        return audio
    import soxr  # a dependency of the training extra; imported where it is needed

    resampled = soxr.resample(audio, rate_hz, SAMPLE_RATE_HZ)
    return np.clip(resampled, -1.0, 1.0).astype(np.float32)  # the filter can overshoot


def check_audio(audio: np.ndarray, engine: str, text: str) -> None:
    if audio.size == 0 or float(np.max(np.abs(audio))) < SILENT_PEAK:
        raise LivefaceError(
            f"{engine} produced no audio for {text[:60]!r}; check the text is in the "
            "chosen language's script."
        )


def build_timeline(
    segments: list[Segment], words: list[Word], language: str, duration_s: float
) -> Timeline:
    """A gap-free timeline over [0, duration_s]: gaps become silence, neighbouring
    silences merge, zero-length phones go, and the last phone ends with the audio."""
    phones: list[Phone] = []
    cursor = 0.0
    for seg in sorted(segments, key=lambda s: s.start_s):
        start, end = max(seg.start_s, cursor), min(seg.end_s, duration_s)
        if end <= start:
            continue
        if start > cursor:
            _append(phones, Phone(cursor, start, SILENCE))
        _append(phones, Phone(start, end, seg.phone, seg.stress))
        cursor = end
    if cursor < duration_s:
        _append(phones, Phone(cursor, duration_s, SILENCE))
    kept_words = tuple(w for w in words if w.end_s > w.start_s)
    return Timeline(tuple(phones), kept_words, language, duration_s)


def _append(phones: list[Phone], phone: Phone) -> None:
    if phones and phone.phone == SILENCE and phones[-1].phone == SILENCE:
        phones[-1] = Phone(phones[-1].start_s, phone.end_s, SILENCE)
    else:
        phones.append(phone)
