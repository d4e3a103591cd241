"""Speech with phone timelines: several TTS engines behind one `SpeechEngine` interface.

    engine = get_engine("espeak-ng")
    clip = engine.synthesize("Pass the bread.", "en", "en+f2", prosody_for_emotion("happy", 0.7))
    clip.audio        # float32 mono, 16 kHz
    clip.timeline     # phones in the shared IPA set (app.training.phones), words, language
"""

from app.training.speech.base import Clip, Prosody, SpeechEngine, Voice
from app.training.speech.corpus import sentences
from app.training.speech.emotion import prosody_for_emotion
from app.training.speech.registry import ENGINES, available_engines, get_engine

__all__ = [
    "ENGINES",
    "Clip",
    "Prosody",
    "SpeechEngine",
    "Voice",
    "available_engines",
    "get_engine",
    "prosody_for_emotion",
    "sentences",
]
