"""Forced alignment of real speech with pocketsphinx, and reference face tracks from it.

pocketsphinx's wheel ships an English acoustic model and pronunciation dictionary, so
real recordings with transcripts get word and phone timings here without any download.
The phones (CMU ARPAbet) are mapped into the shared IPA set and the procedural teacher
animates them, which gives a reference face track for speech nobody synthesised.

Other languages are aligned with the same English acoustic model: espeak-ng gives each
word's phones in the shared set, each phone is spelt with its nearest English phones
(`SPHINX_NEAREST`, one or two of them) as a pronunciation pocketsphinx aligns, and the
timings come back onto the language's own phones. English sounds stand in for sounds
English lacks, so boundaries are looser than in English; p, b, m and the silences between
words are sounds English has, which is what the face needs most.

Alignment runs in two passes as pocketsphinx intends: a word-level pass against the
transcript's grammar, then a phone-level pass restricted to that word segmentation.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio
from app.data.phones import map_symbol
from app.data.timeline import SILENCE, Phone, Timeline, Word
from app.errors import LivefaceError

log = logging.getLogger(__name__)

FRAME_S = 0.01  # pocketsphinx analyses 100 frames per second
_SILENT_RMS = 1e-3  # below this the recording holds no speech to align
_CLIP_LEVEL = 0.999
_MISMATCH_SHARE = 0.35  # voiced frames the alignment calls silence, beyond which it failed
_FILLERS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "++NOISE++", "++BREATH++"})

# Each shared phone spelt with pocketsphinx's English phones: its own where English has
# it, else the nearest English sound by place and manner (consonants) or by height,
# backness and rounding (vowels); two phones where English says the sound as two.
SPHINX_NEAREST: dict[str, tuple[str, ...]] = {
    "p": ("P",), "b": ("B",), "m": ("M",), "f": ("F",), "v": ("V",), "θ": ("TH",),
    "ð": ("DH",), "t": ("T",), "d": ("D",), "s": ("S",), "z": ("Z",), "ʃ": ("SH",),
    "ʒ": ("ZH",), "tʃ": ("CH",), "dʒ": ("JH",), "k": ("K",), "g": ("G",), "ŋ": ("NG",),
    "n": ("N",), "l": ("L",), "r": ("R",), "ɹ": ("R",), "j": ("Y",), "w": ("W",),
    "h": ("HH",), "ʔ": ("T",), "ɾ": ("D",), "ʁ": ("R",), "x": ("HH",), "ç": ("HH",),
    "ɣ": ("G",), "β": ("B",), "ɸ": ("F",), "ɲ": ("N", "Y"), "ʎ": ("L", "Y"),
    "ts": ("T", "S"), "dz": ("D", "Z"), "pf": ("P", "F"), "ɕ": ("SH",), "ʑ": ("ZH",),
    "tɕ": ("CH",), "dʑ": ("JH",), "ʂ": ("SH",), "ʐ": ("ZH",), "ʈʂ": ("CH",), "ʈ": ("T",),
    "ɖ": ("D",), "ɳ": ("N",), "ɽ": ("R",), "c": ("K",), "ɟ": ("G",), "q": ("K",),
    "ʋ": ("V",), "ɦ": ("HH",), "ɥ": ("W",), "ɬ": ("L",),
    "i": ("IY",), "ɪ": ("IH",), "e": ("EY",), "ɛ": ("EH",), "æ": ("AE",), "a": ("AA",),
    "ɑ": ("AA",), "ɒ": ("AA",), "ɔ": ("AO",), "o": ("OW",), "ʊ": ("UH",), "u": ("UW",),
    "ʌ": ("AH",), "ə": ("AH",), "ɜ": ("ER",), "ɐ": ("AH",), "y": ("UW",), "ʏ": ("UH",),
    "ø": ("ER",), "œ": ("ER",), "ɯ": ("UW",), "ɨ": ("IH",),
    "aɪ": ("AY",), "eɪ": ("EY",), "oʊ": ("OW",), "aʊ": ("AW",), "ɔɪ": ("OY",),
    "ɪə": ("IH", "AH"), "ʊə": ("UH", "AH"), "ɛə": ("EH", "AH"),
    "ɑ̃": ("AA", "N"), "ɛ̃": ("EH", "N"), "ɔ̃": ("AO", "N"), "œ̃": ("ER", "N"),
    "ɐ̃": ("AH", "N"), "ã": ("AA", "N"), "ẽ": ("EH", "N"), "ĩ": ("IY", "N"),
    "õ": ("OW", "N"), "ũ": ("UW", "N"),
}

# Where espeak-ng's IPA names a sound other than the one it says: its Russian "ы" comes
# out as "y" (a rounded front vowel), though it is spoken spread, close and central.
ESPEAK_FIXES: dict[str, dict[str, str]] = {"ru": {"y": "ɨ"}}


@dataclass(frozen=True)
class AlignedClip:
    audio: np.ndarray  # float32 mono, 16 kHz
    timeline: Timeline
    rig: np.ndarray  # (T, RIG_SIZE) reference face track from the teacher


def align_file(audio_path: Path, text: str, seed: int = 0) -> AlignedClip:
    """Read a recording, align its transcript and animate it with the teacher."""
    from app.data.teacher import animate  # the teacher loads the default head lazily

    audio = read_audio(Path(audio_path))
    timeline = align(audio, text)
    return AlignedClip(audio, timeline, animate(timeline, audio, seed=seed))


def align(audio: np.ndarray, text: str, language: str = "en") -> Timeline:
    """Word and phone timings of `text` spoken in `audio` (16 kHz mono float32)."""
    return align_scored(audio, text, language)[0]


def align_scored(audio: np.ndarray, text: str, language: str = "en") -> tuple[Timeline, float]:
    """`align`'s timings, and the alignment's acoustic score: the log-likelihood of the audio
    along the aligned phones, summed, in pocketsphinx's log units (higher fits better)."""
    if language != "en":
        return _align_spoken(audio, spoken_phones(text, language), language)
    words = _transcript_words(text)
    _check_audio(audio)
    decoder = _decoder()
    _add_missing_words(decoder, words)
    alignment = _run_alignment(decoder, audio, words)
    timeline = _timeline(alignment, len(audio) / SAMPLE_RATE_HZ)
    _check_match(audio, timeline)
    return timeline, _score(alignment)


def spoken_phones(text: str, language: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each word of `text` with its phones in the shared set, as espeak-ng says them."""
    from app.data.speech.espeak import EspeakEngine

    if not re.search(r"\w", text):
        raise LivefaceError("the transcript is empty: give the words spoken in the audio.")
    timeline = EspeakEngine().synthesize(text, language).timeline
    fixes = ESPEAK_FIXES.get(language, {})
    words = [(word.text, []) for word in timeline.words]
    for phone in timeline.phones:
        middle = (phone.start_s + phone.end_s) / 2
        index = next((i for i, w in enumerate(timeline.words) if middle < w.end_s), None)
        if phone.phone != SILENCE and index is not None:
            words[index][1].append(fixes.get(phone.phone, phone.phone))
    spoken = [(word, tuple(phones)) for word, phones in words if phones]
    if not spoken:
        raise LivefaceError(f"espeak-ng found no speech in the transcript {text[:60]!r}.")
    return spoken


def align_spoken(audio: np.ndarray, words: list[tuple[str, tuple[str, ...]]],
                 language: str) -> Timeline:
    """Timings of words given as (text, shared phones), aligned with the English model
    through each phone's nearest English phones."""
    return _align_spoken(audio, words, language)[0]


def _align_spoken(audio: np.ndarray, words: list[tuple[str, tuple[str, ...]]],
                  language: str) -> tuple[Timeline, float]:
    _check_audio(audio)
    decoder = _decoder()
    keys = [f"w{number}_" for number in range(len(words))]
    for number, (key, (_, phones)) in enumerate(zip(keys, words)):
        decoder.add_word(key, _spelling(phones), number == len(words) - 1)
    alignment = _run_alignment(decoder, audio, keys)
    phones_out: list[Phone] = []
    words_out: list[Word] = []
    for word in alignment:
        if word.name in _FILLERS or word.name.startswith("+"):
            continue
        text, phones = words[int(_word_name(word.name)[1:-1])]
        start_s = word.start * FRAME_S
        words_out.append(Word(start_s, (word.start + word.duration) * FRAME_S, text))
        segments = list(word)
        for phone in phones:
            count = len(SPHINX_NEAREST[phone])
            parts, segments = segments[:count], segments[count:]
            p_start = parts[0].start * FRAME_S
            p_end = (parts[-1].start + parts[-1].duration) * FRAME_S
            phones_out.append(Phone(p_start, p_end, phone))
    duration_s = len(audio) / SAMPLE_RATE_HZ
    timeline = Timeline(tuple(_close_gaps(phones_out, duration_s)), tuple(words_out),
                        language, duration_s)
    _check_match(audio, timeline)
    return timeline, _score(alignment)


def _score(alignment) -> float:
    return float(sum(word.score for word in alignment))


def _spelling(phones: list[str] | tuple[str, ...]) -> str:
    """Shared phones as a pocketsphinx pronunciation."""
    return " ".join(sphinx for phone in phones for sphinx in SPHINX_NEAREST[phone])


def _run_alignment(decoder, audio: np.ndarray, words: list[str]):
    """The two passes: words against the transcript's grammar, then their phones."""
    raw = _pcm16(audio)
    decoder.set_align_text(" ".join(words))
    _decode(decoder, raw)
    if decoder.hyp() is None:
        raise LivefaceError("the transcript does not match the audio: alignment failed.")
    decoder.set_alignment()
    _decode(decoder, raw)
    return decoder.get_alignment()


def recognize_words(audio: np.ndarray) -> tuple[Word, ...]:
    """Words pocketsphinx hears with its own language model, and their timings.

    An independent segmentation to check alignments against.
    """
    _check_audio(audio)
    decoder = _decoder()
    _decode(decoder, _pcm16(audio))
    return tuple(
        Word(seg.start_frame * FRAME_S, (seg.end_frame + 1) * FRAME_S, _word_name(seg.word))
        for seg in decoder.seg()
        if seg.word not in _FILLERS and not seg.word.startswith("+")
    )


def _decoder():
    from pocketsphinx import Decoder

    return Decoder(samprate=SAMPLE_RATE_HZ, bestpath=False, loglevel="FATAL")


def decode(decoder, audio: np.ndarray) -> None:
    """Run a pocketsphinx decoder over the whole of `audio` (16 kHz float32)."""
    _decode(decoder, _pcm16(audio))


def _decode(decoder, raw: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(raw, full_utt=True)
    decoder.end_utt()


def _pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _transcript_words(text: str) -> list[str]:
    words = re.findall(r"[a-z']+", text.lower())
    if not words:
        raise LivefaceError("the transcript is empty: give the words spoken in the audio.")
    return words


def _check_audio(audio: np.ndarray) -> None:
    audio = np.asarray(audio)
    if audio.ndim != 1 or audio.size < SAMPLE_RATE_HZ // 10:
        raise LivefaceError("the audio is shorter than 0.1 s; nothing to align.")
    if not np.all(np.isfinite(audio)):
        raise LivefaceError("the audio holds NaN or infinite samples.")
    if np.sqrt(np.mean(np.square(audio, dtype=np.float64))) < _SILENT_RMS:
        raise LivefaceError("the audio is silent: there is no speech to align.")
    clipped = float(np.mean(np.abs(audio) >= _CLIP_LEVEL))
    if clipped > 0.01:
        log.warning("%.1f%% of the samples are clipped; alignment may be poor.", 100 * clipped)


def _add_missing_words(decoder, words: list[str]) -> None:
    """Words the dictionary lacks (names, 'unmute') get espeak-ng's pronunciation."""
    unknown = sorted({w for w in words if decoder.lookup_word(w) is None})
    for number, word in enumerate(unknown):
        phones = [p for _, said in spoken_phones(word, "en") for p in said]
        decoder.add_word(word, _spelling(phones), number == len(unknown) - 1)


def _word_name(name: str) -> str:
    """'was(2)' is pocketsphinx's second pronunciation of 'was'."""
    return re.sub(r"\(\d+\)$", "", name)


def _timeline(alignment, duration_s: float) -> Timeline:
    phones: list[Phone] = []
    words: list[Word] = []
    for word in alignment:
        start_s, end_s = word.start * FRAME_S, (word.start + word.duration) * FRAME_S
        if word.name not in _FILLERS:
            words.append(Word(start_s, end_s, _word_name(word.name)))
        for phone in word:
            mapped = map_symbol(phone.name, "pocketsphinx")
            p_start = phone.start * FRAME_S
            phones.append(Phone(p_start, p_start + phone.duration * FRAME_S, mapped.phone))
    return Timeline(tuple(_close_gaps(phones, duration_s)), tuple(words), "en", duration_s)


def _close_gaps(phones: list[Phone], duration_s: float) -> list[Phone]:
    """Silence before the first phone, after the last, and in any gap between them."""
    out: list[Phone] = []
    cursor = 0.0
    for phone in [*phones, Phone(duration_s, duration_s, SILENCE)]:
        if phone.start_s > cursor + 1e-6:
            _append(out, Phone(cursor, phone.start_s, SILENCE))
        if phone.end_s > phone.start_s:
            _append(out, phone)
        cursor = max(cursor, phone.end_s)
    return out


def _append(phones: list[Phone], phone: Phone) -> None:
    """Append, merging a silence into a silence just before it."""
    if phones and phone.phone == SILENCE and phones[-1].phone == SILENCE:
        phones[-1] = Phone(phones[-1].start_s, phone.end_s, SILENCE)
    else:
        phones.append(phone)


def _check_match(audio: np.ndarray, timeline: Timeline) -> None:
    """Speech that the alignment put inside silences means the words were not there."""
    frames = len(audio) // int(FRAME_S * SAMPLE_RATE_HZ)
    energy = np.square(audio[: frames * 160].reshape(frames, 160)).mean(axis=1)
    voiced = energy > 0.1 * np.percentile(energy, 90)
    silent = np.zeros(frames, bool)
    for phone in timeline.phones:
        if phone.phone == SILENCE:
            silent[int(phone.start_s / FRAME_S): int(phone.end_s / FRAME_S)] = True
    share = float(np.sum(voiced & silent) / max(np.sum(voiced), 1))
    if share > _MISMATCH_SHARE:
        raise LivefaceError(
            f"the transcript does not seem to match the audio: {share:.0%} of the speech "
            "fell outside the aligned words."
        )
