"""Engines by name, which of them work on this machine, and who speaks each voice."""

from collections.abc import Callable

from app.data.speech.base import SpeechEngine
from app.errors import LivefaceError


def _espeak() -> SpeechEngine:
    from app.data.speech.espeak import EspeakEngine
    return EspeakEngine()


def _flite() -> SpeechEngine:
    from app.data.speech.flite import FliteEngine
    return FliteEngine()


def _festival() -> SpeechEngine:
    from app.data.speech.festival import FestivalEngine
    return FestivalEngine()


def _piper() -> SpeechEngine:
    from app.data.speech.piper import PiperEngine
    return PiperEngine()


ENGINES: dict[str, Callable[[], SpeechEngine]] = {
    "espeak-ng": _espeak,
    "flite": _flite,
    "festival": _festival,
    "piper": _piper,
}


def get_engine(name: str) -> SpeechEngine:
    """An engine by name; a LivefaceError says how to install it when it is missing."""
    if name not in ENGINES:
        raise LivefaceError(f"unknown speech engine '{name}'; choose one of: {', '.join(ENGINES)}.")
    return ENGINES[name]()


def available_engines() -> tuple[str, ...]:
    """The names of the engines that work here."""
    found = []
    for name in ENGINES:
        try:
            get_engine(name)
        except LivefaceError:
            continue
        found.append(name)
    return tuple(found)


# Voices recorded from one person, whichever engine voices them (engine, voice -> person).
# flite's and festival's CMU voices share speakers: Kal's diphones and ARCTIC's slt are in
# both, so a split that holds one out while the other trains would test a heard speaker.
_SPEAKERS = {
    ("flite", "kal16"): "cmu-kal",
    ("festival", "kal_diphone"): "cmu-kal",
    ("flite", "slt"): "cmu-arctic-slt",
    ("festival", "cmu_us_slt_arctic_hts"): "cmu-arctic-slt",
    ("flite", "awb"): "cmu-arctic-awb",
    ("flite", "rms"): "cmu-arctic-rms",
}


def speaker_of(engine: str, voice: str) -> str:
    """The person behind a voice: a shared name where engines voice the same recordings,
    otherwise the voice itself ("engine/voice": each synthetic voice is its own speaker)."""
    return _SPEAKERS.get((engine, voice), f"{engine}/{voice}")
