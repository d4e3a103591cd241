"""festival (Debian `festival` + `festvox-*` voices): segment timings from the utterance.

A small Scheme script selects the voice, synthesises, saves the wave, and prints every
item of the utterance's Segment relation with its end time, its word and its syllable's
stress. The English voices speak the ARPAbet-like "radio" phone set (a voice in the British
MRPA set would be read with `phones.MRPA_TO_IPA`); the Russian, Italian, Czech, Finnish
and Catalan voices speak their own sets, read with their own tables, and read their text in
their own encoding.
Rate comes from festival's `Duration_Stretch`, volume from scaling the samples; the voices
keep their own pitch.
"""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.data.phones import is_vowel, map_symbol
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
from app.data.speech.flite import _read_wav
from app.data.timeline import SILENCE, Word
from app.errors import LivefaceError

ENGINE = "festival"
INSTALL_HINT = ("festival is not installed: apt-get install festival festvox-kallpc16k "
                "festvox-kdlpc16k festvox-us-slt-hts (more languages: festvox-ru, "
                "festvox-italp16k, festvox-itapc16k, festvox-czech-dita, festvox-suopuhe-lj, "
                "festvox-ca-ona-hts, ...)")
FESTVOX_LICENCE = "LicenseRef-Festvox (free use, modification and distribution)"
ARCTIC_LICENCE = "LicenseRef-CMU-ARCTIC (BSD-style: free use with attribution)"


@dataclass(frozen=True)
class FestivalVoice:
    gender: str
    licence: str
    language: str = "en"
    phones: str = ENGINE  # the `phones.ENGINE_TABLES` key its phone names are read with
    encoding: str = "latin-1"  # of the text festival reads for this voice


# voice name (as festival lists it) -> what it is; the Debian package that installs it
KNOWN_VOICES = {
    "kal_diphone": FestivalVoice("male", FESTVOX_LICENCE),  # festvox-kallpc16k
    "ked_diphone": FestivalVoice("male", FESTVOX_LICENCE),  # festvox-kdlpc16k
    "cmu_us_slt_arctic_hts": FestivalVoice("female", ARCTIC_LICENCE),  # festvox-us-slt-hts
    # festvox-ru: unit selection from one speaker's recordings
    "msu_ru_nsh_clunits": FestivalVoice("male", "LicenseRef-festvox-ru (BSD-style)", "ru",
                                        "festival-ru", "utf-8"),
    # festvox-italp16k, festvox-itapc16k: diphones (Italian FESTIVAL Modules)
    "lp_diphone": FestivalVoice("female", "GPL-2.0-or-later", "it", "festival-it"),
    "pc_diphone": FestivalVoice("male", "GPL-2.0-or-later", "it", "festival-it"),
    # festvox-czech-dita, -krb (a child), -machac, -ph: diphones
    "czech_dita": FestivalVoice("female", "GPL-3.0-or-later", "cs", "festival-cs",
                                "iso-8859-2"),
    "czech_krb": FestivalVoice("male", "GPL-3.0-or-later", "cs", "festival-cs", "iso-8859-2"),
    "czech_machac": FestivalVoice("male", "GPL-3.0-or-later", "cs", "festival-cs",
                                  "iso-8859-2"),
    "czech_ph": FestivalVoice("male", "GPL-2.0-or-later", "cs", "festival-cs", "iso-8859-2"),
    # festvox-suopuhe-lj, -mv: diphones
    "suo_fi_lj_diphone": FestivalVoice("female", "LGPL-2.1-or-later", "fi", "festival-fi"),
    "hy_fi_mv_diphone": FestivalVoice("male", "LGPL-2.1-or-later", "fi", "festival-fi"),
    # festvox-ca-ona-hts: statistical parametric (HTS)
    "upc_ca_ona_hts": FestivalVoice("female", "LGPL-2.1-or-later", "ca", "festival-ca"),
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
        return tuple(sorted({KNOWN_VOICES[name].language for name in self._installed}))

    def voices(self, language: str) -> list[Voice]:
        check_language(language, ENGINE, self.languages())
        return [Voice(name, language, KNOWN_VOICES[name].gender, KNOWN_VOICES[name].licence)
                for name in self._installed if KNOWN_VOICES[name].language == language]

    def synthesize(self, text: str, language: str, voice: str | None = None,
                   prosody: Prosody | None = None) -> Clip:
        text = check_text(text)
        prosody = prosody or Prosody()
        voices = self.voices(language)
        voice = voice or (voices[0].id if voices else "")
        licence = check_voice(voice, language, ENGINE, voices).licence
        with tempfile.TemporaryDirectory() as folder:
            wav_path = Path(folder) / "speech.wav"
            printed = self._run(text, voice, prosody, wav_path)
            samples, rate_hz = _read_wav(wav_path)
        audio = np.clip(to_contract_audio(samples, rate_hz) * np.float32(prosody.volume), -1, 1)
        check_audio(audio, ENGINE, text)
        segments, words = parse_segments(printed, KNOWN_VOICES[voice].phones)
        timeline = build_timeline(segments, words, language, len(audio) / SAMPLE_RATE_HZ)
        return Clip(audio, timeline, language, voice, ENGINE, licence, prosody)

    def _run(self, text: str, voice: str, prosody: Prosody, wav_path: Path) -> str:
        script = _SCRIPT.format(voice=voice, stretch=1.0 / max(prosody.rate, 0.1),
                                text=_scheme_string(text), wav=wav_path)
        encoding = KNOWN_VOICES[voice].encoding
        script_path = wav_path.with_suffix(".scm")
        script_path.write_text(script, encoding=encoding, errors="replace")
        done = subprocess.run([self._binary, "--batch", str(script_path)],
                              check=False, capture_output=True, encoding=encoding,
                              errors="replace", timeout=TIMEOUT_S)
        if done.returncode != 0 or "SEG " not in done.stdout:
            raise LivefaceError(f"festival failed to speak {text[:60]!r}: "
                                f"{(done.stderr or done.stdout)[-300:]}")
        return done.stdout


def parse_segments(printed: str, phones: str = ENGINE) -> tuple[list[Segment], list[Word]]:
    """Segments and words from the script's "SEG phone end stress word_id word" lines;
    `phones` names the table the voice's phone names are read with."""
    segments, words, start_s = [], [], 0.0
    current: tuple[str, str, float] | None = None  # word id, text, start
    for line in printed.splitlines():
        parts = line.split(" ", 5)
        if len(parts) != 6 or parts[0] != "SEG":
            continue
        _, symbol, end, stress, word_id, word = parts
        mapped = map_symbol(symbol, phones)
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
