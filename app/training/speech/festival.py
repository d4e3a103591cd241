"""festival (Debian `festival` + `festvox-*` voices): segment timings from the utterance.

A small Scheme script selects the voice, synthesises, saves the wave, and prints every
item of the utterance's Segment relation with its end time, its word and its syllable's
stress. The voices here speak the ARPAbet-like "radio" phone set; a voice in the British
MRPA set would be read with `phones.MRPA_TO_IPA`. Rate comes from festival's
`Duration_Stretch`, volume from scaling the samples; the voices keep their own pitch.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.errors import LivefaceError
from app.training.phones import is_vowel, map_symbol
from app.training.speech.base import (
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
from app.training.speech.flite import _read_wav
from app.training.timeline import SILENCE, Word

ENGINE = "festival"
INSTALL_HINT = ("festival is not installed: apt-get install festival festvox-kallpc16k "
                "festvox-kdlpc16k festvox-us-slt-hts")
FESTVOX_LICENCE = "LicenseRef-Festvox (free use, modification and distribution)"
ARCTIC_LICENCE = "LicenseRef-CMU-ARCTIC (BSD-style: free use with attribution)"
# voice name (as festival lists it) -> gender, licence
KNOWN_VOICES = {
    "kal_diphone": ("male", FESTVOX_LICENCE),
    "ked_diphone": ("male", FESTVOX_LICENCE),
    "cmu_us_slt_arctic_hts": ("female", ARCTIC_LICENCE),
}
TIMEOUT_S = 120

_SCRIPT = """
(voice_{voice})
(Parameter.set 'Duration_Stretch {stretch:.4f})
(set! utt (Utterance Text "{text}"))
(utt.synth utt)
(utt.save.wave utt "{wav}" 'riff)
(mapcar (lambda (s) (format t "SEG %s %f %s %s %s\\n" (item.name s) (item.feat s "end")
  (item.feat s "R:SylStructure.parent.stress") (item.feat s "R:SylStructure.parent.parent.id")
  (item.feat s "R:SylStructure.parent.parent.name"))) (utt.relation.items utt 'Segment))
"""


class FestivalEngine:
    name = ENGINE

    def __init__(self):
        self._binary = shutil.which("festival")
        if self._binary is None:
            raise LivefaceError(INSTALL_HINT)
        self._installed = _installed_voices(self._binary)
        if not self._installed:
            raise LivefaceError(INSTALL_HINT)

    def languages(self) -> tuple[str, ...]:
        return ("en",)

    def voices(self, language: str) -> list[Voice]:
        check_language(language, ENGINE, self.languages())
        return [Voice(name, language, *KNOWN_VOICES[name]) for name in self._installed]

    def synthesize(self, text: str, language: str, voice: str | None = None,
                   prosody: Prosody | None = None) -> Clip:
        text = check_text(text)
        prosody = prosody or Prosody()
        voice = voice or self._installed[0]
        licence = check_voice(voice, language, ENGINE, self.voices(language)).licence
        with tempfile.TemporaryDirectory() as folder:
            wav_path = Path(folder) / "speech.wav"
            printed = self._run(text, voice, prosody, wav_path)
            samples, rate_hz = _read_wav(wav_path)
        audio = np.clip(to_contract_audio(samples, rate_hz) * np.float32(prosody.volume), -1, 1)
        check_audio(audio, ENGINE, text)
        segments, words = parse_segments(printed)
        timeline = build_timeline(segments, words, language, len(audio) / SAMPLE_RATE_HZ)
        return Clip(audio, timeline, language, voice, ENGINE, licence, prosody)

    def _run(self, text: str, voice: str, prosody: Prosody, wav_path: Path) -> str:
        script = _SCRIPT.format(voice=voice, stretch=1.0 / max(prosody.rate, 0.1),
                                text=_scheme_string(text), wav=wav_path)
        script_path = wav_path.with_suffix(".scm")
        script_path.write_text(script)
        done = subprocess.run([self._binary, "--batch", str(script_path)],
                              check=False, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
        if done.returncode != 0 or "SEG " not in done.stdout:
            raise LivefaceError(f"festival failed to speak {text[:60]!r}: "
                                f"{(done.stderr or done.stdout)[-300:]}")
        return done.stdout


def parse_segments(printed: str) -> tuple[list[Segment], list[Word]]:
    """Segments and words from the script's "SEG phone end stress word_id word" lines."""
    segments, words, start_s = [], [], 0.0
    current: tuple[str, str, float] | None = None  # word id, text, start
    for line in printed.splitlines():
        parts = line.split(" ", 5)
        if len(parts) != 6 or parts[0] != "SEG":
            continue
        _, symbol, end, stress, word_id, word = parts
        mapped = map_symbol(symbol, ENGINE)
        end_s = float(end)
        stress_level = int(stress) if is_vowel(mapped.phone) and stress.isdigit() else 0
        segments.append(Segment(start_s, end_s, mapped.phone, stress_level))
        if current and current[0] != word_id:
            words.append(Word(current[2], start_s, current[1]))
            current = None
        if mapped.phone != SILENCE and word_id != "0" and current is None:
            current = (word_id, word, start_s)
        start_s = end_s
    if current:
        words.append(Word(current[2], start_s, current[1]))
    return segments, words


def _scheme_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _installed_voices(binary: str) -> list[str]:
    done = subprocess.run([binary, "--batch", "(print (voice.list))"], check=False,
                          capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    listed = done.stdout.replace("(", " ").replace(")", " ").split()
    return [name for name in KNOWN_VOICES if name in listed]
