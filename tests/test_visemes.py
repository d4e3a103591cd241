"""Phone to viseme mapping and viseme shapes measured on the default avatar."""

import numpy as np
import pytest

from app.avatar.rig import RIG_INDEX, clamp_rig
from app.data.teacher import default_geometry
from app.data.visemes import (
    COARTICULATION,
    FALLBACK_VISEME,
    VISEME_TARGETS,
    VISEMES,
    is_bilabial,
    is_rounded,
    phone_visemes,
    strip_diacritics,
    viseme_of,
    viseme_rig,
)

SHARED_CONSONANTS = "p b m f v θ ð t d s z ʃ ʒ tʃ dʒ k g ŋ n l r ɹ j w h ʔ".split()
SHARED_VOWELS = "i ɪ e ɛ æ a ɑ ɒ ɔ o ʊ u ʌ ə ɜ ɐ y ø œ ɯ ɨ".split()


@pytest.fixture(scope="module")
def geometry():
    return default_geometry()


def test_every_shared_phone_has_a_viseme_of_its_own():
    for phone in SHARED_CONSONANTS + SHARED_VOWELS:
        visemes = phone_visemes(phone)
        assert len(visemes) == 1 and visemes[0] in VISEMES
    assert {viseme_of(p) for p in ("p", "b", "m")} == {"PP"}
    assert {viseme_of(p) for p in ("f", "v")} == {"FF"}
    assert viseme_of("u") == viseme_of("w") == "ou" and viseme_of("a") == "aa"
    assert viseme_of("sil") == "sil"


def test_diphthongs_nasals_and_unknown_symbols():
    assert phone_visemes("aɪ") == ("aa", "ih") and phone_visemes("oʊ") == ("oh", "ou")
    assert viseme_of("ɑ̃") == "aa" and viseme_of("ɛ̃") == "E"  # nasal vowels
    assert viseme_of("iː") == "ih" and viseme_of("pʰ") == "PP" and viseme_of("t͡ʃ") == "CH"
    assert strip_diacritics("õ") == "o"
    assert viseme_of("ǁ") == FALLBACK_VISEME
    assert is_bilabial("bʲ") and not is_bilabial("d")
    assert is_rounded("u") and is_rounded("oʊ") and not is_rounded("i")


def test_targets_are_valid_rigs_and_dominance_is_ordered():
    for viseme in VISEMES:
        rig = viseme_rig(viseme)
        assert np.array_equal(clamp_rig(rig), rig)
        assert viseme in COARTICULATION
    lips = {v: COARTICULATION[v].lip_dominance for v in VISEMES}
    assert lips["PP"] >= lips["FF"] > lips["aa"] > lips["DD"]
    assert lips["nn"] < 0.3 and lips["kk"] < 0.3
    assert set(VISEME_TARGETS) == set(VISEMES)


def test_shapes_on_the_default_mesh(geometry):
    gap = {v: float(geometry.lip_gap_mm(viseme_rig(v))[0]) for v in VISEMES}
    width = {v: float(geometry.lip_width_mm(viseme_rig(v))[0]) for v in VISEMES}
    assert gap["PP"] < 0.0 and gap["sil"] < 1.0  # pressed; at rest the lips touch
    assert gap["aa"] > 10.0 and gap["oh"] > 5.0 and gap["E"] > 5.0
    assert gap["aa"] > gap["E"] > gap["ih"] and gap["FF"] < gap["ih"]
    assert width["ou"] < width["sil"] - 5 and width["ih"] > width["sil"] + 2
    assert viseme_rig("ou")[RIG_INDEX["mouthPucker"]] > 0.5
