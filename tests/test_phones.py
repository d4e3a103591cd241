"""The shared phone set and the engines' symbol tables."""

import unicodedata

import pytest

from app.data import phones
from app.data.phones import SHARED_PHONES, map_symbol, to_shared
from app.data.timeline import SILENCE


def test_shared_set_is_plain_unique_nfc_ipa():
    assert len(set(SHARED_PHONES)) == len(SHARED_PHONES)
    assert SILENCE not in SHARED_PHONES
    for phone in SHARED_PHONES:
        assert unicodedata.normalize("NFC", phone) == phone
        assert "ː" not in phone and "ˈ" not in phone and "\u0361" not in phone


def test_core_consonants_and_vowels_are_in_the_set():
    core = set("p b m f v θ ð t d s z ʃ ʒ tʃ dʒ k g ŋ n l r ɹ j w h ʔ".split())  # noqa: SIM905
    vowels = set("i ɪ e ɛ æ a ɑ ɒ ɔ o ʊ u ʌ ə ɜ ɐ y ø œ ɯ ɨ aɪ eɪ oʊ aʊ ɔɪ".split())  # noqa: SIM905
    assert core | vowels <= set(SHARED_PHONES)


@pytest.mark.parametrize("symbol, phone, stress", [
    ("ˈuː", "u", 1), ("ˌaʊ", "aʊ", 2), ("ɡ", "g", 0), ("t͡ʃ", "tʃ", 0), ("ˈəʊ", "oʊ", 1),
    ("ɔ̃", "ɔ̃", 0), ("rʲ", "r", 0), ("tɕh", "tɕ", 0), ("kʰ", "k", 0), ("ɚ", "ə", 0),
    ("χ", "x", 0), ("o̞", "o", 0), ("", SILENCE, 0),
])
def test_espeak_ipa_maps_into_the_set(symbol, phone, stress):
    mapped = map_symbol(symbol, "espeak-ng")
    assert (mapped.phone, mapped.stress) == (phone, stress)


@pytest.mark.parametrize("engine, symbol, phone", [
    ("flite", "aa", "ɑ"), ("flite", "hh", "h"), ("flite", "pau", SILENCE), ("flite", "jh", "dʒ"),
    ("festival", "ax", "ə"), ("festival", "ey1", "eɪ"), ("festival-mrpa", "@@", "ɜ"),
    ("festival-mrpa", "i@", "ɪə"), ("piper", "ˈæ", "æ"),
    ("festival-ru", "aa", "a"), ("festival-ru", "sch", "ɕ"), ("festival-ru", "pp", "p"),
    ("festival-it", "E", "ɛ"), ("festival-it", "e", "e"), ("festival-it", "S", "ʃ"),
    ("festival-it", "s", "s"), ("festival-it", "dZ", "dʒ"), ("festival-it", "#", SILENCE),
    ("festival-cs", "i:", "i"), ("festival-cs", "i", "ɪ"), ("festival-cs", "s~", "ʃ"),
    ("festival-fi", "p:", "p"), ("festival-fi", "@:", "æ"), ("festival-fi", "7", "ø"),
    ("festival-ca", "rr", "r"), ("festival-ca", "r", "ɾ"), ("festival-ca", "E1", "ɛ"),
])
def test_engine_tables(engine, symbol, phone):
    assert to_shared(symbol, engine) == phone


def test_stress_digits_and_case_of_table_symbols():
    assert map_symbol("O1", "festival-it") == phones.Mapped("ɔ", 1, True)
    assert map_symbol("o1", "festival-it") == phones.Mapped("o", 1, True)
    assert map_symbol("EY1", "flite") == phones.Mapped("eɪ", 1, True)  # ARPAbet in capitals


def test_every_table_lands_in_the_set():
    for table in (phones.ARPABET_TO_IPA, phones.MRPA_TO_IPA, phones.IPA_ALIASES,
                  phones.MSU_RUSSIAN_TO_IPA, phones.IFM_ITALIAN_TO_IPA, phones.CZECH_TO_IPA,
                  phones.SUOPUHE_FINNISH_TO_IPA, phones.UPC_CATALAN_TO_IPA):
        for target in table.values():
            assert target in SHARED_PHONES, target


def test_unknown_symbols_fall_back_and_are_reported(caplog):
    mapped = map_symbol("ˈiɛ˥", "espeak-ng")
    assert mapped.phone == "ɛ" and not mapped.exact
    assert ("espeak-ng", "ˈiɛ˥") in phones.unknown_symbols()
    assert to_shared("ʘ", "espeak-ng") in SHARED_PHONES + (SILENCE,)  # a click: never a crash
    assert to_shared("qqq", "flite") in SHARED_PHONES + (SILENCE,)


def test_modifier_only_symbols_carry_no_phone():
    assert not phones.carries_phone("ʲ")
    assert not phones.carries_phone("(en)")
    assert phones.carries_phone("ˈa")
