"""Speech with phone timelines: several TTS engines behind one `SpeechEngine` interface.

    engine = get_engine("espeak-ng")
    clip = engine.synthesize("Pass the bread.", "en", "en+f2", prosody_for_emotion("happy", 0.7))
    clip.audio        # float32 mono, 16 kHz
    clip.timeline     # phones in the shared IPA set (app.data.phones), words, language
"""

from app.data.speech.base import Clip, Prosody, SpeechEngine, Voice
from app.data.speech.corpus import sentences
from app.data.speech.emotion import prosody_for_emotion
from app.data.speech.registry import ENGINES, available_engines, get_engine

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
