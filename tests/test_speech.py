"""Speech engines: 16 kHz audio with phone timelines that match the sound."""

import itertools

import numpy as np
import pytest

from app.audio.contract import SAMPLE_RATE_HZ
from app.avatar.emotions import EMOTIONS
from app.data.phones import SHARED_PHONES, is_vowel
from app.data.speech import (
    Clip,
    Prosody,
    SpeechEngine,
    available_engines,
    get_engine,
    prosody_for_emotion,
    sentences,
)
from app.data.speech.corpus import LANGUAGES
from app.data.timeline import SILENCE
from app.errors import LivefaceError

ENGLISH = "Pass the bread and the salt, please. She sells sea shells."


@pytest.fixture(scope="module")
def espeak():
    return get_engine("espeak-ng")  # required: espeakng-loader is a project dependency


@pytest.fixture(scope="module")
def english(espeak) -> Clip:
    return espeak.synthesize(ENGLISH, "en", "en+m3")


def _engine_or_skip(name: str) -> SpeechEngine:
    if name not in available_engines():
        pytest.skip(f"{name} is not installed here")
    return get_engine(name)


def _check_clip(clip: Clip) -> None:
    assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1
    assert np.sqrt(np.mean(clip.audio**2)) > 0.01  # not silent
    assert np.max(np.abs(clip.audio)) <= 1.0
    phones = clip.timeline.phones
    assert all(p.phone in SHARED_PHONES or p.phone == SILENCE for p in phones)
    assert phones[0].start_s == 0.0
    assert phones[-1].end_s == pytest.approx(len(clip.audio) / SAMPLE_RATE_HZ)
    assert clip.timeline.duration_s == pytest.approx(len(clip.audio) / SAMPLE_RATE_HZ)
    for before, after in itertools.pairwise(phones):
        assert before.start_s < before.end_s == pytest.approx(after.start_s)
    for word in clip.timeline.words:
        inside = [p for p in phones if p.start_s < word.end_s and p.end_s > word.start_s]
        assert inside and all(word.start_s <= p.start_s and p.end_s <= word.end_s for p in inside)
    assert sum(is_vowel(p.phone) for p in phones) >= 2


def _rms(audio: np.ndarray, start_s: float, end_s: float) -> float:
    part = audio[int(start_s * SAMPLE_RATE_HZ):int(end_s * SAMPLE_RATE_HZ)]
    return float(np.sqrt(np.mean(part**2))) if part.size else 0.0


def _high_share(audio: np.ndarray, start_s: float, end_s: float) -> float:
    """Share of the spectral energy above 4 kHz."""
    part = audio[int(start_s * SAMPLE_RATE_HZ):int(end_s * SAMPLE_RATE_HZ)]
    power = np.abs(np.fft.rfft(part * np.hanning(part.size))) ** 2
    freqs = np.fft.rfftfreq(part.size, 1 / SAMPLE_RATE_HZ)
    return float(power[freqs > 4000].sum() / power.sum())


def test_espeak_clip_keeps_the_contract(english):
    _check_clip(english)
    assert english.engine == "espeak-ng" and english.voice == "en+m3"
    assert english.language == english.timeline.language == "en"
    assert english.voice_licence == "GPL-3.0-or-later"
    assert [w.text for w in english.timeline.words][:3] == ["Pass", "the", "bread"]


def test_silence_is_quiet_and_vowels_are_loud(english):
    phones = english.timeline.phones
    edges = [p for p in (phones[0], phones[-1]) if p.phone == SILENCE]
    assert edges, "a clip starts or ends in silence"
    vowels = [p for p in phones if is_vowel(p.phone)]
    vowel_rms = np.median([_rms(english.audio, p.start_s, p.end_s) for p in vowels])
    for p in edges:
        assert _rms(english.audio, p.start_s, p.end_s) < 0.1 * vowel_rms


def test_s_has_more_high_frequency_energy_than_vowels(english):
    phones = english.timeline.phones
    hiss = [_high_share(english.audio, p.start_s, p.end_s)
            for p in phones if p.phone in ("s", "ʃ")]
    vowel = [_high_share(english.audio, p.start_s, p.end_s) for p in phones if is_vowel(p.phone)]
    assert len(hiss) >= 3
    assert np.median(hiss) > 5 * np.median(vowel)


def test_same_input_gives_identical_audio(espeak):
    prosody = Prosody(rate=1.1, pitch=0.9)
    first = espeak.synthesize("Hello there.", "en", "en+klatt", prosody)
    second = espeak.synthesize("Hello there.", "en", "en+klatt", prosody)
    assert np.array_equal(first.audio, second.audio)
    assert first.timeline == second.timeline


def test_eight_languages_speak(espeak):
    assert len(LANGUAGES) >= 8
    for language in LANGUAGES:
        clip = espeak.synthesize(sentences(language)[0], language)
        _check_clip(clip)
        assert clip.timeline.language == language


def test_voices_give_speaker_variety(espeak):
    voices = espeak.voices("de")
    assert {"male", "female"} <= {v.gender for v in voices}
    female = espeak.synthesize("Guten Morgen.", "de", "de+f2")
    male = espeak.synthesize("Guten Morgen.", "de", "de+m1")
    assert not np.array_equal(female.audio[:4000], male.audio[:4000])


def test_slower_rate_gives_longer_speech(espeak):
    slow = espeak.synthesize(ENGLISH, "en", prosody=Prosody(rate=0.7))
    fast = espeak.synthesize(ENGLISH, "en", prosody=Prosody(rate=1.4))
    assert slow.duration_s > 1.3 * fast.duration_s


def test_emphasis_lengthens_the_word(espeak):
    plain = espeak.synthesize("I said the red one.", "en")
    stressed = espeak.synthesize("I said the red one.", "en",
                                 prosody=Prosody(emphasised_words=(3,)))
    length = {c: next(w.end_s - w.start_s for w in c.timeline.words if w.text == "red")
              for c in (plain, stressed)}
    assert length[stressed] > length[plain]


def test_emotion_prosody_follows_the_literature():
    settings = {e: prosody_for_emotion(e, 1.0) for e in EMOTIONS}
    assert len({(p.rate, p.pitch, p.pitch_range, p.volume) for p in settings.values()}) == 8
    sad, angry, neutral = settings["sad"], settings["angry"], settings["neutral"]
    assert sad.rate < 1 and sad.pitch < 1 and sad.pitch_range < 1 and sad.volume < 1
    assert angry.volume > 1 and angry.rate > 1 and angry.pitch_range > 1
    assert neutral == Prosody()
    half = prosody_for_emotion("sad", 0.5)
    assert sad.rate < half.rate < 1
    spread = prosody_for_emotion("happy", 1.0, np.random.default_rng(0))
    assert spread != settings["happy"]
    assert spread == prosody_for_emotion("happy", 1.0, np.random.default_rng(0))


def test_emotional_speech_sounds_different(espeak):
    sad = espeak.synthesize(ENGLISH, "en", prosody=prosody_for_emotion("sad", 1.0))
    angry = espeak.synthesize(ENGLISH, "en", prosody=prosody_for_emotion("angry", 1.0))
    assert sad.duration_s > angry.duration_s
    assert np.sqrt(np.mean(angry.audio**2)) > np.sqrt(np.mean(sad.audio**2))


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_is_a_user_error(espeak, text):
    with pytest.raises(LivefaceError, match="empty"):
        espeak.synthesize(text, "en")


def test_unknown_language_names_the_known_ones(espeak):
    with pytest.raises(LivefaceError, match="klingon.*de, "):
        espeak.synthesize("Hello.", "klingon")


def test_unknown_voice_and_engine_are_user_errors(espeak):
    with pytest.raises(LivefaceError, match="no voice"):
        espeak.synthesize("Hello.", "en", "en+nobody")
    with pytest.raises(LivefaceError, match="unknown speech engine"):
        get_engine("vocoder9000")


def test_text_without_sound_is_a_user_error(espeak):
    with pytest.raises(LivefaceError, match="no audio"):
        espeak.synthesize("...", "en")


def test_missing_engine_says_how_to_install(monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(LivefaceError, match="apt-get install flite"):
        get_engine("flite")


def test_espeak_is_available():
    assert "espeak-ng" in available_engines()


def test_flite_timeline():
    flite = _engine_or_skip("flite")
    clip = flite.synthesize(ENGLISH, "en", "slt")
    _check_clip(clip)
    slow = flite.synthesize(ENGLISH, "en", "slt", Prosody(rate=0.7))
    assert slow.duration_s > 1.2 * clip.duration_s
    phones = clip.timeline.phones
    vowel_rms = np.median([_rms(clip.audio, p.start_s, p.end_s)
                           for p in phones if is_vowel(p.phone)])
    assert _rms(clip.audio, phones[0].start_s, phones[0].end_s) < 0.1 * vowel_rms


def test_festival_timeline():
    festival = _engine_or_skip("festival")
    for voice in festival.voices("en"):
        clip = festival.synthesize(ENGLISH, "en", voice.id)
        _check_clip(clip)
        assert [w.text for w in clip.timeline.words][:3] == ["Pass", "the", "bread"]
    stressed = [p for p in clip.timeline.phones if p.stress]
    assert stressed and all(is_vowel(p.phone) for p in stressed)


@pytest.mark.parametrize("language, text, bilabials", [
    ("ru", "Мама мыла раму, папа пил пиво.", 5),
    ("it", "Il bambino mangia una mela, perché è così bella.", 4),
    ("cs", "Dnes ráno jel autobus pozdě, tak jsem šel do práce pěšky.", 3),
    ("fi", "Bussi oli taas myöhässä tänä aamuna, joten kävelin töihin.", 3),
    ("ca", "El pare menja pa amb tomàquet i beu vi.", 4),
])
def test_festival_voices_of_other_languages(language, text, bilabials):
    """Russian, Italian, Czech, Finnish and Catalan voices (festvox-ru, -italp16k, -czech-*,
    -suopuhe-*, -ca-ona-hts) read their text in their own encoding and name phones in their
    own sets, every one of which maps exactly into the shared set."""
    from app.data.phones import unknown_symbols

    festival = _engine_or_skip("festival")
    if language not in festival.languages():
        pytest.skip(f"no festival voice for '{language}' installed here")
    for voice in festival.voices(language):
        clip = festival.synthesize(text, language, voice.id)
        _check_clip(clip)
        assert clip.language == language and clip.voice == voice.id
        words = [w.text for w in clip.timeline.words]
        assert words[0].lower() == text.split()[0].lower() and len(words) == len(text.split())
        assert sum(p.phone in ("p", "b", "m") for p in clip.timeline.phones) >= bilabials
        assert not {symbol for engine, symbol in unknown_symbols()
                    if engine == f"festival-{language}"}


def test_piper_timeline():
    piper = _engine_or_skip("piper")
    clip = piper.synthesize(ENGLISH, "en")
    _check_clip(clip)
    assert clip.engine == "piper" and clip.voice == "en_US-joe-medium"
    again = piper.synthesize(ENGLISH, "en")
    assert np.array_equal(clip.audio, again.audio)
    phones = clip.timeline.phones
    hiss = [_high_share(clip.audio, p.start_s, p.end_s) for p in phones if p.phone == "s"]
    vowel = [_high_share(clip.audio, p.start_s, p.end_s) for p in phones if is_vowel(p.phone)]
    assert np.median(hiss) > 3 * np.median(vowel)
    slow = piper.synthesize(ENGLISH, "en", prosody=Prosody(rate=0.7))
    assert slow.duration_s > 1.2 * clip.duration_s


def test_missing_espeak_says_how_to_install(monkeypatch):
    from app.data.speech import espeak_library
    monkeypatch.setattr(espeak_library, "locate", lambda: None)
    with pytest.raises(LivefaceError, match="pip install espeakng-loader"):
        get_engine("espeak-ng")
