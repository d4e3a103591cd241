"""flite (Debian `flite`): CMU's small English synthesizer, phones from `-psdur`.

`flite -psdur` prints every segment as "phone:end_s" in ARPAbet; a segment starts where
the one before ends. Words are not reported. Rate comes from flite's `duration_stretch`
feature and volume from scaling the samples; flite's voices keep their own pitch.
"""

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.data.phones import map_symbol
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
from app.errors import LivefaceError

ENGINE = "flite"
INSTALL_HINT = "flite is not installed: apt-get install flite"
LICENCE = "LicenseRef-Flite (BSD-style CMU licence: free use, modification and distribution)"
# The 16 kHz voices built into Debian's flite, and their speakers' genders.
VOICES = {"kal16": "male", "slt": "female", "awb": "male", "rms": "male"}
TIMEOUT_S = 60


class FliteEngine:
    name = ENGINE

    def __init__(self):
        self._binary = shutil.which("flite")
        if self._binary is None:
            raise LivefaceError(INSTALL_HINT)

    def languages(self) -> tuple[str, ...]:
        return ("en",)

    def voices(self, language: str) -> list[Voice]:
        check_language(language, ENGINE, self.languages())
        return [Voice(name, language, gender, LICENCE) for name, gender in VOICES.items()]

    def synthesize(self, text: str, language: str, voice: str | None = None,
                   prosody: Prosody | None = None) -> Clip:
        text = check_text(text)
        prosody = prosody or Prosody()
        voice = voice or "slt"
        check_voice(voice, language, ENGINE, self.voices(language))
        with tempfile.TemporaryDirectory() as folder:
            wav_path = Path(folder) / "speech.wav"
            printed = self._run(text, voice, prosody, wav_path)
            samples, rate_hz = _read_wav(wav_path)
        audio = to_contract_audio(samples, rate_hz) * np.float32(prosody.volume)
        audio = np.clip(audio, -1.0, 1.0)
        check_audio(audio, ENGINE, text)
        duration_s = len(audio) / SAMPLE_RATE_HZ
        timeline = build_timeline(parse_psdur(printed), [], language, duration_s)
        return Clip(audio, timeline, language, voice, ENGINE, LICENCE, prosody)

    def _run(self, text: str, voice: str, prosody: Prosody, wav_path: Path) -> str:
        stretch = 1.0 / max(prosody.rate, 0.1)
        command = [self._binary, "-voice", voice, "--setf", f"duration_stretch={stretch:.4f}",
                   "-psdur", "-t", text, "-o", str(wav_path)]
        done = subprocess.run(command, check=False, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
        if done.returncode != 0:
            raise LivefaceError(f"flite failed to speak {text[:60]!r}: {done.stderr[-300:]}")
        return done.stdout


def parse_psdur(printed: str) -> list[Segment]:
    """Segments from flite's "phone:end_s phone:end_s ..." output."""
    segments, start_s = [], 0.0
    for item in printed.split():
        symbol, _, end = item.rpartition(":")
        try:
            end_s = float(end)
        except ValueError:
            continue
        mapped = map_symbol(symbol, ENGINE)
        segments.append(Segment(start_s, end_s, mapped.phone, mapped.stress))
        start_s = end_s
    return segments


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    if not path.exists():
        raise LivefaceError("the speech engine wrote no audio file.")
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
        samples = np.frombuffer(frames, dtype="<i2").reshape(-1, wav.getnchannels())[:, 0]
        return samples, wav.getframerate()
