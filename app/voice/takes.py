"""Takes: a person's recordings of prompts, each with its words, and the checks a take
must pass before enrolment learns from it.

A takes folder holds one audio file per take with a `.txt` of its words beside it (same
stem): `01.wav` + `01.txt`. Any format `app.audio.io.read_audio` reads will do.

A take is refused, with the reason a person can act on, when it is
- silent or nearly so (nothing reached the microphone),
- clipped (too loud for the microphone's gain),
- not the prompt: forced alignment of its words fails, the words leave much of the speech
  outside them, or they fit the sound far worse than the sounds themselves do. The last is
  the alignment's confidence: its acoustic score per frame against that of a free phone
  loop over the same audio (pocketsphinx's allphone search, which may choose any phones).
  Read as written, a take scores close to the free loop; another sentence scores well
  below it.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio
from app.data import align as alignment
from app.data.align import AlignedClip
from app.errors import LivefaceError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".webm", ".raw")
MIN_SPEECH_S = 0.5
SILENT_PEAK_DBFS = -40.0  # a take whose loudest 10 ms stays below this holds no speech
CLIP_LEVEL = 0.999
CLIPPED_SHARE = 0.001  # of samples at full scale
# Alignment score minus free phone-loop score, per 10 ms frame, in pocketsphinx's log
# units; a take below its language's floor says other words. Measured on recorded prompts
# (Asterisk's): English read as written -8 to -21, aligned to other prompts -21 to -42
# where the alignment did not fail outright (single words overlap; sentences do not);
# Russian, aligned through the English model, -16 to -40 as written, -46 to -75 otherwise.
MIN_CONFIDENCE = {"en": -28.0}
MIN_CONFIDENCE_OTHER = -45.0
_FRAME_SAMPLES = round(SAMPLE_RATE_HZ * alignment.FRAME_S)


class TakeRefused(LivefaceError):
    """A take enrolment cannot use; the message says why and what to do."""


@dataclass(frozen=True)
class Take:
    name: str
    audio: np.ndarray  # float32 mono, 16 kHz
    text: str


@dataclass(frozen=True)
class CheckedTake:
    take: Take
    aligned: AlignedClip  # timings of its phones and the teacher's track of them
    peak_dbfs: float  # loudest 10 ms
    confidence: float  # see MIN_CONFIDENCE


def read_takes(folder: Path) -> list[Take]:
    """Every audio file in `folder` with a `.txt` beside it, in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LivefaceError(f"takes folder {folder} does not exist.")
    audio_files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    missing = [p.name for p in audio_files if not p.with_suffix(".txt").is_file()]
    if missing:
        raise LivefaceError(f"takes without their words: {', '.join(missing[:5])}; put the "
                            "words of each take in a .txt file of the same name beside it.")
    takes = [Take(p.stem, read_audio(p), p.with_suffix(".txt").read_text(encoding="utf-8")
                  .strip()) for p in audio_files]
    if not takes:
        raise LivefaceError(f"{folder} holds no takes (audio files with a .txt of their words "
                            "beside them).")
    return takes


def level_dbfs(audio: np.ndarray) -> float:
    """The loudest 10 ms of the take, RMS in dBFS."""
    hop = SAMPLE_RATE_HZ // 100
    frames = len(audio) // hop
    if frames == 0:
        return -np.inf
    rms = np.sqrt(np.square(audio[:frames * hop].reshape(frames, hop), dtype=np.float64)
                  .mean(axis=1))
    return float(20 * np.log10(max(rms.max(), 1e-10)))


def check_take(take: Take, language: str = "en", seed: int = 0) -> CheckedTake:
    """The take aligned and animated, or `TakeRefused` with the reason."""
    from app.data.teacher import animate

    audio = take.audio
    if len(audio) < MIN_SPEECH_S * SAMPLE_RATE_HZ:
        raise TakeRefused(f"take {take.name} is shorter than {MIN_SPEECH_S} s; read the whole "
                          "sentence.")
    peak = level_dbfs(audio)
    if peak < SILENT_PEAK_DBFS:
        raise TakeRefused(f"take {take.name} is silent (loudest {peak:.0f} dBFS): check that "
                          "the microphone is on and not muted, and speak up.")
    clipped = float(np.mean(np.abs(audio) >= CLIP_LEVEL))
    if clipped > CLIPPED_SHARE:
        raise TakeRefused(f"take {take.name} is clipped ({clipped:.1%} of it at full scale): "
                          "turn the microphone's gain down or move back from it.")
    if not take.text.strip():
        raise TakeRefused(f"take {take.name} has no words in its .txt.")
    try:
        timeline, score = alignment.align_scored(audio, take.text, language)
    except LivefaceError as err:
        raise TakeRefused(f"take {take.name} does not seem to say its prompt ({err}); read "
                          "the prompt as written.") from None
    confidence = (score - _phone_loop_score(audio)) / (len(audio) / _FRAME_SAMPLES)
    floor = MIN_CONFIDENCE.get(language, MIN_CONFIDENCE_OTHER)
    if confidence < floor:
        raise TakeRefused(f"take {take.name} does not seem to say its prompt (alignment "
                          f"confidence {confidence:.0f}, below {floor:.0f}); read the prompt "
                          "as written.")
    rig = animate(timeline, audio, seed=seed)
    return CheckedTake(take, AlignedClip(audio, timeline, rig), round(peak, 1),
                       round(confidence, 1))


def _phone_loop_score(audio: np.ndarray) -> float:
    """The acoustic score of the best phone sequence of any kind (allphone search)."""
    from pocketsphinx import Decoder, get_model_path

    phone_lm = os.path.join(get_model_path(), "en-us", "en-us-phone.lm.bin")
    decoder = Decoder(samprate=SAMPLE_RATE_HZ, allphone=phone_lm, bestpath=False,
                      loglevel="FATAL")
    alignment.decode(decoder, audio)
    return float(sum(segment.ascore for segment in decoder.seg()))
