"""Forced alignment on real recordings (Debian's pocketsphinx-testdata, installed by CI)."""

import numpy as np
import pytest

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio
from app.avatar.rig import RIG_SIZE
from app.data.align import (
    SPHINX_NEAREST,
    align,
    align_file,
    align_spoken,
    recognize_words,
    spoken_phones,
)
from app.data.phones import SHARED_PHONES
from app.data.realspeech import TESTDATA_DIR, real_speech_clips
from app.data.recorded import CORPORA
from app.data.timeline import SILENCE
from app.errors import LivefaceError

pytestmark = pytest.mark.skipif(
    not TESTDATA_DIR.is_dir(), reason="apt-get install pocketsphinx-testdata (CI installs it)"
)


def _boundary_errors_s(clips) -> np.ndarray:
    """|aligned - recognised| start and end times of words both passes agree on."""
    errors = []
    for clip in clips:
        audio = read_audio(clip.audio_path)
        aligned, heard = align(audio, clip.text).words, recognize_words(audio)
        for word in aligned:
            same = [h for h in heard if h.text == word.text and abs(h.start_s - word.start_s) < 0.3]
            if same:
                errors += [abs(same[0].start_s - word.start_s), abs(same[0].end_s - word.end_s)]
    return np.array(errors)


def test_word_timings_agree_with_pocketsphinx_recognition():
    clips = real_speech_clips()
    errors = _boundary_errors_s([clips[1], clips[5], clips[9]])
    assert len(errors) >= 20
    assert np.mean(errors <= 0.05) >= 0.9


@pytest.mark.slow
def test_word_timings_agree_on_the_whole_real_speech_set():
    errors = _boundary_errors_s(real_speech_clips())
    assert len(errors) >= 100
    assert np.median(errors) <= 0.02 and np.mean(errors <= 0.05) >= 0.9


def test_alignment_gives_a_gapless_timeline_and_a_rig_track():
    clip = real_speech_clips()[1]  # "he was not an ill disposed young man"
    aligned = align_file(clip.audio_path, clip.text)
    phones = aligned.timeline.phones
    assert [w.text for w in aligned.timeline.words] == clip.text.split()
    assert phones[0].start_s == 0.0
    assert phones[-1].end_s == pytest.approx(len(aligned.audio) / SAMPLE_RATE_HZ)
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(phones, phones[1:]))
    assert all(p.phone in SHARED_PHONES or p.phone == SILENCE for p in phones)
    assert [p.phone for p in phones if p.phone != SILENCE][:3] == ["h", "i", "w"]
    assert aligned.rig.shape == (int(np.ceil(len(aligned.audio) / 320)), RIG_SIZE)


@pytest.fixture(scope="module")
def speech():
    return read_audio(real_speech_clips()[1].audio_path)


@pytest.mark.parametrize("text, message", [
    ("hello", "does not seem to match"),
    ("he was not an ill disposed young man and then some", "match"),
    ("   ", "empty"),
    ("he was not an ill disposed young man zqxj", "does not match"),
])
def test_transcripts_that_do_not_fit_are_user_errors(speech, text, message):
    with pytest.raises(LivefaceError, match=message):
        align(speech, text)


def test_bad_audio_is_a_user_error(speech):
    with pytest.raises(LivefaceError, match="silent"):
        align(np.zeros(SAMPLE_RATE_HZ, np.float32), "hello")
    with pytest.raises(LivefaceError, match="NaN"):
        align(np.full(SAMPLE_RATE_HZ, np.nan, np.float32), "hello")
    with pytest.raises(LivefaceError, match="empty"):
        align(speech, " ... ", language="de")


def test_clipped_audio_still_aligns_with_a_warning(speech, caplog):
    loud = np.clip(speech * 30.0, -1.0, 1.0)
    timeline = align(loud, "he was not an ill disposed young man")
    assert len(timeline.words) == 8
    assert "clipped" in caplog.text


# pocketsphinx en-us's phone set (its mdef), which every spelling must use
SPHINX_PHONES = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH "
    "UW V W Y Z ZH".split())


def test_every_shared_phone_is_spelt_with_pocketsphinx_phones():
    assert set(SHARED_PHONES) <= set(SPHINX_NEAREST)
    assert all(1 <= len(s) <= 2 and set(s) <= SPHINX_PHONES for s in SPHINX_NEAREST.values())
    assert SPHINX_NEAREST["p"] == ("P",) and SPHINX_NEAREST["m"] == ("M",)


def _labels(timeline, frames: int) -> list[str]:
    labels = []
    for frame in range(frames):
        phone = timeline.phone_at((frame + 0.5) / 100)
        labels.append(phone.phone if phone else SILENCE)
    return labels


def test_espeak_pronunciations_align_like_the_dictionary_on_english(speech):
    """The route other languages take, checked where the dictionary gives the answer:
    the same English recording aligned through espeak-ng's phones puts the silences and
    the lip closures where the dictionary's alignment does."""
    text = "he was not an ill disposed young man"
    reference = align(speech, text)
    through_espeak = align_spoken(speech, spoken_phones(text, "en"), "en")
    assert [w.text.lower() for w in through_espeak.words] == text.split()
    frames = len(speech) // 160
    ref, alt = _labels(reference, frames), _labels(through_espeak, frames)
    silence_agreement = np.mean([(a == SILENCE) == (b == SILENCE) for a, b in zip(ref, alt)])
    assert silence_agreement >= 0.95
    onsets = [[p.start_s for p in t.phones if p.phone in ("p", "b", "m")]
              for t in (reference, through_espeak)]
    assert len(onsets[0]) == len(onsets[1]) >= 2
    assert np.max(np.abs(np.subtract(*onsets))) <= 0.03


def test_words_the_dictionary_lacks_get_espeak_pronunciations(speech):
    timeline = align(speech, "he was not an ill disposed young manx")
    assert timeline.words[-1].text == "manx" and timeline.words[-1].end_s > 2.5


italian = CORPORA["asterisk-it"]
needs_italian = pytest.mark.skipif(
    not italian.audio_dir.is_dir(), reason=f"apt-get install {italian.packages} (CI does)")


@needs_italian
def test_an_italian_recording_aligns_through_espeak_pronunciations():
    audio = read_audio(italian.audio_dir / f"all-circuits-busy-now{italian.suffix}")
    timeline = align(audio, "Tutti i circuiti sono ora occupati.", language="it")
    assert timeline.language == "it"
    assert [w.text for w in timeline.words] == [
        "Tutti", "i", "circuiti", "sono", "ora", "occupati"]
    phones = timeline.phones
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(phones, phones[1:]))
    assert phones[-1].end_s == pytest.approx(len(audio) / SAMPLE_RATE_HZ)
    said = [p.phone for p in phones if p.phone != SILENCE]
    assert said[:3] == ["t", "u", "t"] and "p" in said and "tʃ" in said
    with pytest.raises(LivefaceError, match="match"):
        align(audio, "Prego digitare il proprio numero di operatore seguito dal tasto "
              "cancelletto.", language="it")
