"""Phones to visemes to ARKit blendshapes, with the coarticulation parameters of each viseme.

**Viseme classes** are the common 15-class set of real-time lip sync (sil, PP, FF, TH, DD,
kk, CH, SS, nn, RR, aa, E, ih, oh, ou):

| viseme | phones (shared IPA set)      | mouth shape                                   |
|--------|------------------------------|-----------------------------------------------|
| sil    | sil, ʔ                       | rest, lips together                           |
| PP     | p b m                        | lips pressed shut, jaw nearly closed          |
| FF     | f v ɱ ɸ β ʋ                  | lower lip rolled in against the upper teeth   |
| TH     | θ ð                          | tongue tip between slightly parted teeth      |
| DD     | t d ɾ                        | small opening, lips free                      |
| kk     | k g ŋ x ɣ χ ʁ q c ɟ h        | small-to-mid opening, lips free               |
| CH     | tʃ dʒ ʃ ʒ ɕ ʑ ç              | lips protruded and funnelled, teeth close     |
| SS     | s z ts dz                    | teeth nearly shut, lips spread a little       |
| nn     | n l ɲ ʎ ɬ (and unknown)      | small opening, lips free                      |
| RR     | r ɹ ɻ ʀ                      | lips slightly rounded                         |
| aa     | a ɑ æ ɐ ʌ                    | jaw wide open                                 |
| E      | e ɛ ə ɜ œ                    | mid open, lips a little spread                |
| ih     | i ɪ ɨ ɯ j ɰ                  | small opening, lips spread                    |
| oh     | o ɔ ɒ ø                      | mid open, lips rounded                        |
| ou     | u ʊ y w ɥ                    | nearly closed, lips strongly rounded          |

Rounded phones (w, u, ʊ, o, ɔ, ɒ, y, ø, œ, ɥ, ʃ, ʒ, tʃ, dʒ, r) are listed in `ROUNDED`.
Diphthongs ("aɪ", "oʊ") give two visemes, the first for the start of the segment and the
second for its end. Unknown symbols lose their diacritics (length marks, tildes of nasal
vowels, aspiration, ...) and are looked up again, then by their first letter; what still
is unknown falls back to `FALLBACK_VISEME`, a neutral, weakly dominant shape.

**Coarticulation** follows Cohen and Massaro's dominance functions, with JALI's split
between lips and jaw: each viseme has a dominance for the lip channels and one for the jaw,
which is full inside its segment and decays exponentially outside it with the time
constants `anticipation_s` (before the segment) and `carryover_s` (after). Bilabials and
labiodentals dominate the lips strongly; alveolars, velars and /h/ barely, so their lips
take the neighbouring vowels' shape. `deformability` says how much loudness and speaking
style may scale a viseme's jaw opening (vowels a lot, bilabials and sibilants hardly).

Target weights were tuned on the default avatar: PP alone leaves a lip gap below zero
(pressed), aa opens the lips by more than 10 mm.
"""

import unicodedata
from dataclasses import dataclass

import numpy as np

from app.avatar.rig import ARKIT_NAMES, RIG_INDEX, rig_from_weights
from app.data.timeline import SILENCE

VISEMES: tuple[str, ...] = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
)
FALLBACK_VISEME = "nn"

_VISEME_PHONES: dict[str, tuple[str, ...]] = {
    "sil": (SILENCE, "ʔ"),
    "PP": ("p", "b", "m"),
    "FF": ("f", "v", "ɱ", "ɸ", "β", "ʋ"),
    "TH": ("θ", "ð"),
    "DD": ("t", "d", "ɾ"),
    "kk": ("k", "g", "ɡ", "ŋ", "x", "ɣ", "χ", "ʁ", "q", "c", "ɟ", "h"),
    "CH": ("tʃ", "dʒ", "ʃ", "ʒ", "ɕ", "ʑ", "ç"),
    "SS": ("s", "z", "ts", "dz"),
    "nn": ("n", "l", "ɲ", "ʎ", "ɬ"),
    "RR": ("r", "ɹ", "ɻ", "ʀ"),
    "aa": ("a", "ɑ", "æ", "ɐ", "ʌ"),
    "E": ("e", "ɛ", "ə", "ɜ", "œ"),
    "ih": ("i", "ɪ", "ɨ", "ɯ", "j", "ɰ"),
    "oh": ("o", "ɔ", "ɒ", "ø"),
    "ou": ("u", "ʊ", "y", "w", "ɥ"),
}
PHONE_TO_VISEME: dict[str, str] = {p: v for v, phones in _VISEME_PHONES.items() for p in phones}
BILABIALS = frozenset({"p", "b", "m"})
LABIODENTALS = frozenset({"f", "v", "ɱ"})
ROUNDED = frozenset({"w", "u", "ʊ", "o", "ɔ", "ɒ", "y", "ø", "œ", "ɥ", "ʃ", "ʒ", "tʃ", "dʒ", "r"})
VOWEL_VISEMES = frozenset({"aa", "E", "ih", "oh", "ou"})
_MODIFIER_LETTERS = "ːˑʰʲʷˠˤ˞ⁿˡ'ˈˌ"

# Sparse ARKit targets of each viseme at full articulation ("L/R" pairs spelled out).
VISEME_TARGETS: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": {"jawOpen": 0.06, "mouthClose": 0.10, "mouthPressLeft": 0.45, "mouthPressRight": 0.45,
           "mouthRollLower": 0.25, "mouthRollUpper": 0.15},
    "FF": {"jawOpen": 0.08, "mouthRollLower": 0.65, "mouthShrugLower": 0.15,
           "mouthUpperUpLeft": 0.3, "mouthUpperUpRight": 0.3},
    "TH": {"jawOpen": 0.14, "tongueOut": 0.35, "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1},
    "DD": {"jawOpen": 0.14, "mouthUpperUpLeft": 0.05, "mouthUpperUpRight": 0.05},
    "kk": {"jawOpen": 0.18, "mouthStretchLeft": 0.1, "mouthStretchRight": 0.1},
    "CH": {"jawOpen": 0.06, "mouthFunnel": 0.35, "mouthPucker": 0.25, "mouthShrugUpper": 0.2},
    "SS": {"jawOpen": 0.07, "mouthStretchLeft": 0.25, "mouthStretchRight": 0.25,
           "mouthSmileLeft": 0.1, "mouthSmileRight": 0.1, "mouthUpperUpLeft": 0.15,
           "mouthUpperUpRight": 0.15},
    "nn": {"jawOpen": 0.12},
    "RR": {"jawOpen": 0.12, "mouthPucker": 0.35, "mouthFunnel": 0.2},
    "aa": {"jawOpen": 0.55, "mouthLowerDownLeft": 0.2, "mouthLowerDownRight": 0.2,
           "mouthUpperUpLeft": 0.1, "mouthUpperUpRight": 0.1},
    "E": {"jawOpen": 0.32, "mouthStretchLeft": 0.25, "mouthStretchRight": 0.25,
          "mouthSmileLeft": 0.1, "mouthSmileRight": 0.1},
    "ih": {"jawOpen": 0.2, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3,
           "mouthSmileLeft": 0.15, "mouthSmileRight": 0.15, "mouthUpperUpLeft": 0.1,
           "mouthUpperUpRight": 0.1},
    "oh": {"jawOpen": 0.35, "mouthFunnel": 0.5, "mouthPucker": 0.25},
    "ou": {"jawOpen": 0.13, "mouthPucker": 0.75, "mouthFunnel": 0.35},
}


@dataclass(frozen=True)
class Coarticulation:
    """Dominance of a viseme over the lip and jaw channels and how it spreads in time."""

    lip_dominance: float  # 0..1, full inside the segment
    jaw_dominance: float
    anticipation_s: float  # time constant of the decay before the segment starts
    carryover_s: float  # time constant of the decay after it ends
    deformability: float  # 0..1, how much loudness and style may scale its jaw


COARTICULATION: dict[str, Coarticulation] = {
    "sil": Coarticulation(0.25, 0.25, 0.06, 0.06, 0.0),
    "PP": Coarticulation(1.0, 0.7, 0.09, 0.05, 0.1),
    "FF": Coarticulation(1.0, 0.9, 0.07, 0.05, 0.2),
    "TH": Coarticulation(0.5, 0.6, 0.06, 0.05, 0.3),
    "DD": Coarticulation(0.12, 0.45, 0.05, 0.04, 0.4),
    "kk": Coarticulation(0.1, 0.35, 0.05, 0.04, 0.5),
    "CH": Coarticulation(0.7, 0.7, 0.10, 0.06, 0.2),
    "SS": Coarticulation(0.45, 0.85, 0.07, 0.05, 0.1),
    "nn": Coarticulation(0.12, 0.4, 0.05, 0.04, 0.4),
    "RR": Coarticulation(0.5, 0.4, 0.09, 0.06, 0.4),
    "aa": Coarticulation(0.6, 0.9, 0.08, 0.07, 1.0),
    "E": Coarticulation(0.5, 0.8, 0.08, 0.07, 1.0),
    "ih": Coarticulation(0.5, 0.8, 0.08, 0.07, 0.9),
    "oh": Coarticulation(0.75, 0.8, 0.12, 0.08, 0.9),
    "ou": Coarticulation(0.9, 0.7, 0.14, 0.08, 0.7),
}

# Which rig entries each dominance governs (JALI's lip/jaw split); the tongue goes with the jaw.
JAW_CHANNELS = np.array([RIG_INDEX[n] for n in ("jawOpen", "jawForward", "tongueOut")])
LIP_CHANNELS = np.array([RIG_INDEX[n] for n in ARKIT_NAMES
                         if n.startswith("mouth") or n == "cheekPuff"])


def strip_diacritics(phone: str) -> str:
    """A phone without combining marks (nasal tildes, tie bars, ...) and modifier letters."""
    decomposed = unicodedata.normalize("NFD", phone)
    kept = [c for c in decomposed
            if not unicodedata.combining(c) and c not in _MODIFIER_LETTERS]
    return unicodedata.normalize("NFC", "".join(kept))


def phone_visemes(phone: str) -> tuple[str, ...]:
    """The viseme (or, for a diphthong, the two visemes) of a phone in the shared set."""
    for candidate in (phone, strip_diacritics(phone)):
        if candidate in PHONE_TO_VISEME:
            return (PHONE_TO_VISEME[candidate],)
    plain = strip_diacritics(phone)
    visemes = tuple(PHONE_TO_VISEME[c] for c in plain if c in PHONE_TO_VISEME)
    if len(plain) >= 2 and len(visemes) == len(plain) and set(visemes) <= VOWEL_VISEMES:
        return visemes[:1] + visemes[-1:]  # a diphthong: onset and offset shapes
    return visemes[:1] if visemes else (FALLBACK_VISEME,)


def viseme_of(phone: str) -> str:
    """The main (first) viseme of a phone."""
    return phone_visemes(phone)[0]


def is_bilabial(phone: str) -> bool:
    return strip_diacritics(phone) in BILABIALS


def is_vowel(phone: str) -> bool:
    """A vowel or diphthong (unknown phones fall back to a consonant viseme: not vowels)."""
    return set(phone_visemes(phone)) <= VOWEL_VISEMES


def is_labiodental(phone: str) -> bool:
    return strip_diacritics(phone) in LABIODENTALS


def is_rounded(phone: str) -> bool:
    plain = strip_diacritics(phone)
    return plain in ROUNDED or (len(plain) > 1 and plain[-1] in ROUNDED)


def viseme_rig(viseme: str) -> np.ndarray:
    """The rig vector (57,) of a viseme's target shape at full articulation."""
    return rig_from_weights(VISEME_TARGETS[viseme])
