"""Forced alignment on real recordings (Debian's pocketsphinx-testdata, installed by CI)."""

import numpy as np
import pytest

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio
from app.avatar.rig import RIG_SIZE
from app.data.align import align, align_file, recognize_words
from app.data.phones import SHARED_PHONES
from app.data.realspeech import TESTDATA_DIR, real_speech_clips
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
    ("he was not an ill disposed young man zqxj", "lacks zqxj"),
])
def test_transcripts_that_do_not_fit_are_user_errors(speech, text, message):
    with pytest.raises(LivefaceError, match=message):
        align(speech, text)


def test_bad_audio_is_a_user_error(speech):
    with pytest.raises(LivefaceError, match="silent"):
        align(np.zeros(SAMPLE_RATE_HZ, np.float32), "hello")
    with pytest.raises(LivefaceError, match="NaN"):
        align(np.full(SAMPLE_RATE_HZ, np.nan, np.float32), "hello")
    with pytest.raises(LivefaceError, match="English"):
        align(speech, "hallo", language="de")


def test_clipped_audio_still_aligns_with_a_warning(speech, caplog):
    loud = np.clip(speech * 30.0, -1.0, 1.0)
    timeline = align(loud, "he was not an ill disposed young man")
    assert len(timeline.words) == 8
    assert "clipped" in caplog.text
