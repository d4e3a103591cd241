"""The shared phone set, and how each speech engine's symbols map into it.

Every timeline (`app.data.timeline`) names its phones with one string from
`SHARED_PHONES`, or "sil" for silence. The set is plain IPA:

- consonants one symbol each, affricates written without the tie bar ("tʃ", not "t͡ʃ"),
  and the ASCII letter "g" for the voiced velar stop (IPA "ɡ" maps onto it);
- vowels without length or stress marks (stress lives in `Phone.stress`);
- diphthongs as two-character strings ("aɪ", "oʊ");
- nasal vowels with the combining tilde U+0303 ("ɑ̃").

What is folded away is what a face does not show: aspiration, palatalisation, length,
tone, voicelessness diacritics. What is kept is what a face does show: the place of the
consonant (lips, teeth, tongue tip, back), lip rounding and openness of the vowel.

Symbol tables, one per engine family:

| engine            | symbols                      | table              |
|-------------------|------------------------------|--------------------|
| espeak-ng, piper  | IPA with ˈ ˌ ː, ties, tones  | `IPA_ALIASES`      |
| flite, festival   | ARPAbet / CMU "radio" set    | `ARPABET_TO_IPA`   |
| festival (rab)    | MRPA (British)               | `MRPA_TO_IPA`      |
| festival (ru)     | msu_ru's own set             | `MSU_RUSSIAN_TO_IPA` |
| festival (it)     | IFM's Italian set            | `IFM_ITALIAN_TO_IPA` |
| festival (cs, fi, ca) | their voices' own sets   | `CZECH_TO_IPA`, ... |

`to_shared(symbol, engine)` never raises: a symbol it does not know loses its diacritics
and modifiers, falls back to its nearest base phone, and is reported once through the
module's logger (see `unknown_symbols()` for the ones met so far).
"""

import logging
import unicodedata
from dataclasses import dataclass

from app.data.timeline import SILENCE

log = logging.getLogger(__name__)

CONSONANTS: tuple[str, ...] = (
    # the core set every viseme table must handle
    "p", "b", "m", "f", "v", "θ", "ð", "t", "d", "s", "z", "ʃ", "ʒ", "tʃ", "dʒ",
    "k", "g", "ŋ", "n", "l", "r", "ɹ", "j", "w", "h", "ʔ",
    # other languages' consonants that a face can tell apart
    "ɾ", "ʁ", "x", "ç", "ɣ", "β", "ɸ", "ɲ", "ʎ", "ts", "dz", "pf",
    "ɕ", "ʑ", "tɕ", "dʑ", "ʂ", "ʐ", "ʈʂ", "ʈ", "ɖ", "ɳ", "ɽ", "c", "ɟ", "q",
    "ʋ", "ɦ", "ɥ", "ɬ",
)
MONOPHTHONGS: tuple[str, ...] = (
    "i", "ɪ", "e", "ɛ", "æ", "a", "ɑ", "ɒ", "ɔ", "o", "ʊ", "u", "ʌ", "ə", "ɜ", "ɐ",
    "y", "ʏ", "ø", "œ", "ɯ", "ɨ",
)
DIPHTHONGS: tuple[str, ...] = ("aɪ", "eɪ", "oʊ", "aʊ", "ɔɪ", "ɪə", "ʊə", "ɛə")
NASAL_VOWELS: tuple[str, ...] = ("ɑ̃", "ɛ̃", "ɔ̃", "œ̃", "ɐ̃", "ã", "ẽ", "ĩ", "õ", "ũ")
VOWELS: tuple[str, ...] = MONOPHTHONGS + DIPHTHONGS + NASAL_VOWELS
SHARED_PHONES: tuple[str, ...] = CONSONANTS + VOWELS

_TILDE = "\u0303"
_STRESS = {"ˈ": 1, "ˌ": 2}

# IPA spellings (espeak-ng, piper, other aligners) that are not shared phones as written.
IPA_ALIASES: dict[str, str] = {
    "ɡ": "g", "t͡ʃ": "tʃ", "d͡ʒ": "dʒ", "t͡s": "ts", "d͡z": "dz", "p͡f": "pf",
    "ʧ": "tʃ", "ʤ": "dʒ", "ʦ": "ts", "ʣ": "dz", "ʨ": "tɕ", "ʥ": "dʑ",
    "tʂ": "ʈʂ", "dʐ": "ʐ", "ɖʐ": "ʐ", "ts`": "ʈʂ",
    "χ": "x", "ʀ": "ʁ", "ɫ": "l", "ɭ": "l", "ʟ": "l", "ɻ": "ɹ", "ɺ": "ɾ", "ɰ": "ɣ",
    "ʍ": "w", "ɱ": "m", "ɴ": "ŋ", "ħ": "h", "ʕ": "h", "ɧ": "ʃ", "ʝ": "j", "ʄ": "ɟ",
    "ɹ̩": "ɹ", "n̩": "n", "l̩": "l", "m̩": "m",
    # vowels with no shared symbol of their own: nearest shape of lips and jaw
    "ɚ": "ə", "ɝ": "ɜ", "ɘ": "ə", "ɵ": "ø", "ɞ": "œ", "ɶ": "œ", "ɤ": "ə", "ʉ": "u",
    "ᵻ": "ɨ", "ɷ": "ʊ", "ä": "a",
    # diphthongs spelt another way (British, German, Dutch, Mandarin)
    "əʊ": "oʊ", "eə": "ɛə", "ɔø": "ɔɪ", "ɔʏ": "ɔɪ", "ɑɪ": "aɪ", "ɑʊ": "aʊ", "ɑu": "aʊ",
    "ai": "aɪ", "au": "aʊ", "ei": "eɪ", "ou": "oʊ", "oi": "ɔɪ", "əu": "oʊ", "ɛi": "eɪ",
    "ʌʊ": "aʊ", "ɐɪ": "aɪ", "ɐʊ": "aʊ", "ɪə": "ɪə", "ʊə": "ʊə", "ɛɪ": "eɪ",
    "ɐ̃ʊ": "ɐ̃", "ɐ̃ɪ": "ɐ̃", "õɪ": "õ", "ũɪ": "ũ",
}

# ARPAbet as flite's cmulex and festival's "radio" phone set spell it (lower case).
ARPABET_TO_IPA: dict[str, str] = {
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "axr": "ə",
    "ay": "aɪ", "eh": "ɛ", "er": "ɜ", "ey": "eɪ", "ih": "ɪ", "ix": "ɪ", "iy": "i",
    "ow": "oʊ", "oy": "ɔɪ", "uh": "ʊ", "uw": "u", "ux": "u",
    "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "dx": "ɾ", "el": "l", "em": "m",
    "en": "n", "f": "f", "g": "g", "hh": "h", "h": "h", "jh": "dʒ", "k": "k", "l": "l",
    "m": "m", "n": "n", "nx": "ŋ", "ng": "ŋ", "p": "p", "r": "ɹ", "s": "s", "sh": "ʃ",
    "t": "t", "th": "θ", "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ", "q": "ʔ",
}

# MRPA, festival's British English set (voices rab_diphone and friends).
MRPA_TO_IPA: dict[str, str] = {
    "@": "ə", "@@": "ɜ", "a": "æ", "aa": "ɑ", "ai": "aɪ", "au": "aʊ", "e": "ɛ",
    "e@": "ɛə", "ei": "eɪ", "i": "ɪ", "i@": "ɪə", "ii": "i", "o": "ɒ", "oi": "ɔɪ",
    "oo": "ɔ", "ou": "oʊ", "u": "ʊ", "u@": "ʊə", "uh": "ʌ", "uu": "u",
    "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "f": "f", "g": "g", "h": "h", "jh": "dʒ",
    "k": "k", "l": "l", "m": "m", "n": "n", "ng": "ŋ", "p": "p", "r": "ɹ", "s": "s",
    "sh": "ʃ", "t": "t", "th": "θ", "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ",
}

# festival's Russian voice (msu_ru_nsh): doubled vowels are stressed, reduced vowels have
# their own names, a doubled consonant is palatalised (folded away, as everywhere).
MSU_RUSSIAN_TO_IPA: dict[str, str] = {
    "aa": "a", "ee": "e", "ii": "i", "oo": "o", "uu": "u", "yy": "ɨ",
    "a": "ɐ", "ay": "ə", "ae": "ɪ", "e": "e", "i": "ɪ", "y": "ɨ", "u": "ʊ", "ur": "ʊ",
    "p": "p", "pp": "p", "b": "b", "bb": "b", "t": "t", "tt": "t", "d": "d", "dd": "d",
    "k": "k", "kk": "k", "g": "g", "gg": "g", "c": "ts", "ch": "tɕ", "f": "f", "ff": "f",
    "v": "v", "vv": "v", "s": "s", "ss": "s", "z": "z", "zz": "z", "sh": "ʂ", "sch": "ɕ",
    "zh": "ʐ", "h": "x", "hh": "x", "m": "m", "mm": "m", "n": "n", "nn": "n", "l": "l",
    "ll": "l", "r": "r", "rr": "r", "j": "j",
}

# festival's Italian voices (IFM lp_diphone, pc_diphone): case matters (E, O open vowels;
# S, Z, J, L postalveolar and palatal), a trailing 1 marks the stressed vowel.
IFM_ITALIAN_TO_IPA: dict[str, str] = {
    "a": "a", "e": "e", "E": "ɛ", "i": "i", "o": "o", "O": "ɔ", "u": "u", "j": "j", "w": "w",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "f": "f", "v": "v",
    "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "ts": "ts", "dz": "dz", "tS": "tʃ", "dZ": "dʒ",
    "m": "m", "n": "n", "J": "ɲ", "ng": "ŋ", "l": "l", "L": "ʎ", "r": "r",
    "nf": "f",  # the labiodental nasal of "invece": lower lip at the teeth, as for f
}

# festival's Czech voices (czech_dita, _krb, _machac, _ph): "~" marks the palatal or
# postalveolar of a letter, ":" a long vowel (short i and u are the lax ones).
CZECH_TO_IPA: dict[str, str] = {
    "a": "a", "a:": "a", "e": "ɛ", "e:": "ɛ", "i": "ɪ", "i:": "i", "o": "o", "o:": "o",
    "u": "ʊ", "u:": "u", "b": "b", "c": "ts", "c~": "tʃ", "ch": "x", "d": "d", "d~": "ɟ",
    "dz": "dz", "dz~": "dʒ", "f": "f", "g": "g", "h": "ɦ", "j": "j", "k": "k", "l": "l",
    "m": "m", "n": "n", "n*": "ŋ", "n~": "ɲ", "p": "p", "r": "r", "s": "s", "s~": "ʃ",
    "t": "t", "t~": "c", "v": "v", "z": "z", "z~": "ʒ",
    "r~": "ʒ", "r~*": "ʃ",  # ř: a raised trill whose friction the face shows as ʒ / ʃ
}

# festival's Finnish voices (suopuhe lj, mv): "@" is ä, "7" ö; ":" marks length (a long
# vowel, a geminate consonant), which the face does not show.
SUOPUHE_FINNISH_TO_IPA: dict[str, str] = {
    "a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "y": "y", "@": "æ", "7": "ø",
    "&": "ə", "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "g", "f": "f",
    "T": "θ", "D": "ð", "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "h": "h", "v": "ʋ",
    "m": "m", "n": "n", "N": "ŋ", "l": "l", "L": "l", "r": "r", "j": "j", "w": "w",
}

# festival's Catalan voice (upc_ca_ona_hts): case matters as in Italian, "1" marks stress.
UPC_CATALAN_TO_IPA: dict[str, str] = {
    "ax": "ə", "a": "a", "e": "e", "E": "ɛ", "i": "i", "o": "o", "O": "ɔ", "u": "u",
    "j": "j", "w": "w", "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g",
    "f": "f", "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "m": "m", "n": "n", "J": "ɲ",
    "l": "l", "L": "ʎ", "r": "ɾ", "rr": "r",
}

SILENCE_SYMBOLS = frozenset({"", "_", "pau", "sil", "h#", "#", "brth", "sp", "spn"})

# Which table an engine's symbols are read with.
ENGINE_TABLES: dict[str, dict[str, str]] = {
    "espeak-ng": IPA_ALIASES, "piper": IPA_ALIASES, "mbrola": IPA_ALIASES,
    "flite": ARPABET_TO_IPA, "festival": ARPABET_TO_IPA, "festival-mrpa": MRPA_TO_IPA,
    "festival-ru": MSU_RUSSIAN_TO_IPA, "festival-it": IFM_ITALIAN_TO_IPA,
    "festival-cs": CZECH_TO_IPA, "festival-fi": SUOPUHE_FINNISH_TO_IPA,
    "festival-ca": UPC_CATALAN_TO_IPA,
    "pocketsphinx": ARPABET_TO_IPA,
}

_unknown: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Mapped:
    phone: str  # a SHARED_PHONES entry or SILENCE
    stress: int  # 0 none, 1 primary, 2 secondary
    exact: bool  # False when the symbol was guessed by stripping or folding


def to_shared(symbol: str, engine: str) -> str:
    """The shared phone (or "sil") for one engine symbol; never raises."""
    return map_symbol(symbol, engine).phone


def map_symbol(symbol: str, engine: str) -> Mapped:
    """Map one engine symbol into the shared set, with its stress and whether it was exact."""
    table = ENGINE_TABLES.get(engine, IPA_ALIASES)
    if table is IPA_ALIASES:
        mapped = _map_ipa(symbol)
    else:
        mapped = _map_table(symbol, table)
    if not mapped.exact:
        _report(symbol, engine, mapped.phone)
    return mapped


def unknown_symbols() -> frozenset[tuple[str, str]]:
    """The (engine, symbol) pairs met so far that had no exact mapping."""
    return frozenset(_unknown)


def split_stress(symbol: str) -> tuple[str, int]:
    """Remove IPA stress marks; return the rest and the stress (0, 1 primary, 2 secondary)."""
    stress = 0
    for mark, level in _STRESS.items():
        if mark in symbol:
            stress = stress or level
            symbol = symbol.replace(mark, "")
    return symbol, stress


def carries_phone(symbol: str) -> bool:
    """False for symbols that only modify their neighbour ("ʲ", "ː") or switch language
    ("(en)"): an engine attaches their time to the phone before."""
    text = split_stress(symbol.strip())[0]
    if text.startswith("(") and text.endswith(")"):
        return False
    return bool(_strip_marks(text.replace("ː", "")))


def is_vowel(phone: str) -> bool:
    return phone in VOWELS


def _map_table(symbol: str, table: dict[str, str]) -> Mapped:
    key = symbol.strip()
    stress = 1 if key[-1:] == "1" else 2 if key[-1:] == "2" else 0
    key = key.rstrip("012")  # CMU lexical stress digits
    if key.lower() in SILENCE_SYMBOLS:
        return Mapped(SILENCE, 0, True)
    # some sets tell cases apart (Italian E and e); a trailing ":" marks length, which a
    # table lists only where it changes the vowel (Czech i: and i)
    for spelling in (key, key.lower(), key.rstrip(":"), key.rstrip(":").lower()):
        if spelling in table:
            return Mapped(table[spelling], stress, True)
    fallback = _map_ipa(symbol)  # some voices spell phones in IPA already
    return Mapped(fallback.phone, stress, fallback.exact and fallback.phone != SILENCE)


def _map_ipa(symbol: str) -> Mapped:
    text, stress = split_stress(symbol.strip())
    if text in SILENCE_SYMBOLS:
        return Mapped(SILENCE, 0, symbol.strip() in SILENCE_SYMBOLS)
    text = unicodedata.normalize("NFC", text.replace("ː", "").replace("ˑ", ""))
    exact = _lookup(text)
    if exact:
        return Mapped(exact, stress, True)
    folded = _lookup(_strip_marks(text))
    if folded:
        return Mapped(folded, stress, True)
    return Mapped(_guess(_strip_marks(text)), stress, False)


def _lookup(text: str) -> str | None:
    text = unicodedata.normalize("NFC", text)
    if text in SHARED_PHONES:
        return text
    alias = IPA_ALIASES.get(text) or IPA_ALIASES.get(unicodedata.normalize("NFD", text))
    return alias


def _strip_marks(text: str) -> str:
    """Drop ties, diacritics and modifier letters (ʰ ʲ ʷ, tone letters, digits),
    keeping the tilde of a nasal vowel."""
    kept = []
    for char in unicodedata.normalize("NFD", text):
        category = unicodedata.category(char)
        if char == _TILDE and kept and kept[-1] in "aeiouɑɛɔœɐøy":
            kept.append(char)
        elif category in ("Mn", "Lm", "Sk", "Nd", "Po", "Pd", "Ps", "Pe", "Zs"):
            continue
        else:
            kept.append(char)
    stripped = "".join(kept)
    # espeak spells some aspirated stops with a plain "h" (cmn "th", "tɕh")
    if len(stripped) > 1 and stripped.endswith("h") and _lookup(stripped[:-1]):
        stripped = stripped[:-1]
    return unicodedata.normalize("NFC", stripped)


def _guess(text: str) -> str:
    """Nearest shared phone for a symbol no table knows: a known part of it, or silence."""
    if not text:
        return SILENCE
    if _lookup(text[:2]) in DIPHTHONGS:
        return _lookup(text[:2])  # triphthong "aɪə": its diphthong
    known = [_lookup(char) for char in text]
    vowels = [phone for phone in known if phone in VOWELS]
    if len(vowels) >= 2 and vowels[0] in ("i", "u", "y") and vowels[1] not in ("i", "u", "y"):
        return vowels[1]  # rising diphthong (Mandarin "iɛ", "uo"): the nucleus is second
    if vowels:
        return vowels[0]
    consonants = [phone for phone in known if phone]
    return consonants[0] if consonants else SILENCE


def _report(symbol: str, engine: str, phone: str) -> None:
    if (engine, symbol) in _unknown:
        return
    _unknown.add((engine, symbol))
    log.warning("no exact shared phone for %s symbol %r; using %r", engine, symbol, phone)
