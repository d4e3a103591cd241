"""espeak-ng through its C library, with a phone timeline from its phoneme events.

The library comes from PyPI `espeakng-loader` (libespeak-ng plus espeak-ng-data) and is
bound with ctypes in `espeak_library`, which runs in a child process per utterance: the
library keeps state between utterances, so that is what makes synthesis reproducible
(see there). The child reports each phone's exact start in samples; a phone lasts until
the next phone starts.

Speaker variety comes from the voice variants in espeak-ng-data/voices/!v (a voice id is
"<language>+<variant>", e.g. "en+f2", "de+m3", "fr+klatt") and from `Prosody`.
"""

import json
import logging
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.data.phones import carries_phone, map_symbol
from app.data.speech import espeak_library
from app.data.speech.base import (
    Clip,
    Prosody,
    Segment,
    Voice,
    build_timeline,
    check_audio,
    check_language,
    check_text,
    check_voice,
    to_contract_audio,
)
from app.data.timeline import SILENCE, Word
from app.errors import LivefaceError

log = logging.getLogger(__name__)

ENGINE = "espeak-ng"
LICENCE = "GPL-3.0-or-later"  # espeak-ng's program and voice data alike
INSTALL_HINT = "espeak-ng is not installed: pip install espeakng-loader"
RATE_WPM_MIN, RATE_WPM_MAX, RATE_WPM_DEFAULT = 80, 450, 175
TIMEOUT_S = 60

# Common names for languages espeak-ng files under another code.
LANGUAGE_ALIASES = {"zh": "cmn", "en-gb": "en", "pt-pt": "pt"}


class EspeakEngine:
    """The main engine: about a hundred languages, phone times exact to the sample."""

    name = ENGINE

    def __init__(self):
        paths = espeak_library.locate()
        if paths is None:
            raise LivefaceError(INSTALL_HINT)
        self._data_path = Path(paths[1])

    def languages(self) -> tuple[str, ...]:
        return _languages()

    def voices(self, language: str) -> list[Voice]:
        code = self._code(language)
        base = [Voice(code, language, None, LICENCE)]
        return base + [
            Voice(f"{code}+{variant}", language, gender, LICENCE)
            for variant, gender in _variants(self._data_path)
        ]

    def synthesize(self, text: str, language: str, voice: str | None = None,
                   prosody: Prosody | None = None) -> Clip:
        text = check_text(text)
        prosody = prosody or Prosody()
        code = self._code(language)
        voice = voice or code
        check_voice(voice, language, ENGINE, self.voices(language))
        spoken, ssml = _markup(text, prosody.emphasised_words)
        request = {"command": "speak", "voice": voice, "parameters": _parameters(prosody),
                   "text": spoken, "ssml": ssml}
        try:
            reply, payload = _run_child(request)
        except _Crashed:
            if not ssml:
                raise
            # libespeak-ng crashes on some emphasis markup (seen with es+m5); say it plainly.
            log.warning("espeak-ng crashed on emphasis with voice %s; speaking without it", voice)
            return self.synthesize(text, language, voice, replace(prosody, emphasised_words=()))
        if reply.get("status") != 0:
            raise LivefaceError(f"espeak-ng failed to speak {text[:60]!r} with voice "
                                f"'{voice}' (error {reply.get('status')}).")
        rate_hz = reply["rate_hz"]
        samples = np.frombuffer(payload, dtype="<i2")
        audio = to_contract_audio(samples, rate_hz)
        check_audio(audio, ENGINE, text)
        segments = _segments(reply["phones"], len(samples), rate_hz)
        words = _words(reply["words"], segments, spoken)
        timeline = build_timeline(segments, words, language, len(audio) / SAMPLE_RATE_HZ)
        return Clip(audio, timeline, language, voice, ENGINE, LICENCE, prosody)

    def _code(self, language: str) -> str:
        check_language(language, ENGINE, self.languages())
        return LANGUAGE_ALIASES.get(language, language)


class _Crashed(LivefaceError):
    """The espeak-ng child process died from a signal (a crash inside the C library)."""


def _run_child(request: dict) -> tuple[dict, bytes]:
    """Run espeak_library in a fresh process: its JSON reply line and the bytes after it."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", espeak_library.__file__], input=json.dumps(request).encode(),
            capture_output=True, timeout=TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise LivefaceError(f"espeak-ng took longer than {TIMEOUT_S} s; speak shorter text.")
    line, _, payload = done.stdout.partition(b"\n")
    if done.returncode != 0 or not line:
        if b'"missing"' in line:
            raise LivefaceError(INSTALL_HINT)
        error = _Crashed if done.returncode < 0 else LivefaceError
        raise error(f"espeak-ng stopped with an error (exit status {done.returncode}): "
                    f"{done.stderr.decode(errors='replace')[-300:]}")
    return json.loads(line), payload


@cache
def _languages() -> tuple[str, ...]:
    reply, _ = _run_child({"command": "voices"})
    codes = {code for _, langs in reply["voices"] for code in langs}
    return tuple(sorted(codes | set(LANGUAGE_ALIASES)))


def _parameters(prosody: Prosody) -> dict[str, int]:
    """espeak-ng's parameters: rate in words per minute, pitch and range 0..100 with 50
    the voice's own, volume 0..200 with 100 normal."""
    return {
        "rate": int(np.clip(round(RATE_WPM_DEFAULT * prosody.rate), RATE_WPM_MIN, RATE_WPM_MAX)),
        "pitch": int(np.clip(round(50 * prosody.pitch), 0, 100)),
        "range": int(np.clip(round(50 * prosody.pitch_range), 0, 100)),
        "volume": int(np.clip(round(100 * prosody.volume), 0, 200)),
    }


@cache
def _variants(data_path: Path) -> tuple[tuple[str, str | None], ...]:
    """(variant file name, gender) for every file in espeak-ng-data/voices/!v."""
    found = []
    for path in sorted((data_path / "voices" / "!v").iterdir()):
        if " " in path.name or not path.is_file():
            continue  # a name with a space cannot be written "lang+variant"
        gender = None
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if parts[:1] == ["gender"] and len(parts) > 1 and parts[1] in ("male", "female"):
                gender = parts[1]
        found.append((path.name, gender))
    return tuple(found)


def _markup(text: str, emphasised_words: tuple[int, ...]) -> tuple[str, bool]:
    """The text to hand to espeak-ng, and whether it is SSML (only where emphasis needs it,
    so that plain text keeps its characters and word positions as written)."""
    if not emphasised_words:
        return text, False
    words = text.split()
    marked = [
        f"<emphasis>{escape(word)}</emphasis>" if index in emphasised_words else escape(word)
        for index, word in enumerate(words)
    ]
    return "<speak>" + " ".join(marked) + "</speak>", True


def _segments(events: list, total_samples: int, rate_hz: int) -> list[Segment]:
    """Phone segments from phone events: each lasts until the next event.

    An empty name is a pause: silence at a word boundary, but inside a word it is part of
    the phone before (a stop's release). Modifier-only names ("ʲ") and language switches
    ("(en)") also extend the phone before.
    """
    segments: list[tuple[int, int, str, int, int]] = []  # start, end, phone, stress, word
    ends = [sample for sample, _, _ in events[1:]] + [total_samples]
    for (sample, symbol, position), end in zip(events, ends):
        same_word = bool(segments) and segments[-1][4] == position
        if symbol.strip() == "":
            phone, stress = (None, 0) if same_word else (SILENCE, 0)
        elif not carries_phone(symbol):
            phone, stress = None, 0
        else:
            mapped = map_symbol(symbol, ENGINE)
            phone, stress = mapped.phone, mapped.stress
        if phone is None and segments:
            start, _, prev_phone, prev_stress, word = segments[-1]
            segments[-1] = (start, end, prev_phone, prev_stress, word)
        elif phone is not None:
            segments.append((sample, end, phone, stress, position))
    return [
        Segment(start / rate_hz, end / rate_hz, phone, stress, word)
        for start, end, phone, stress, word in segments
    ]


def _words(words: list, segments: list[Segment], spoken: str) -> list[Word]:
    """A word spans its own phones (the phones whose event points at the word)."""
    found = []
    for position, length in words:
        own = [s for s in segments if s.word == position and s.phone != SILENCE]
        if own:
            text = spoken[position - 1:position - 1 + length]
            found.append(Word(own[0].start_s, own[-1].end_s, text))
    return found
