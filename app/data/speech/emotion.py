"""Speaking prosody for each emotion, so that the voice and the face agree.

Directions follow the vocal-emotion literature (Banse & Scherer 1996, "Acoustic profiles
in vocal emotion expression"; Juslin & Laukka 2003, "Communication of emotions in vocal
expression and music performance", table 7): relative to neutral speech,

| emotion      | rate   | pitch  | pitch range | loudness |
|--------------|--------|--------|-------------|----------|
| happy        | faster | higher | wider       | louder   |
| sad          | slower | lower  | narrower    | softer   |
| angry (hot)  | faster | higher | wider       | much louder |
| surprised    | a bit faster | much higher | much wider | louder |
| disgusted    | slower | lower  | about the same | softer |
| fearful      | faster | higher | narrower    | about the same |
| contemptuous | slower | lower  | a bit wider | about the same |

The factors below are the settings at full intensity; `intensity` moves each factor
linearly from 1 (neutral) to it, and `rng` adds a small per-clip spread (a speaker's
own way of being sad) so that the data is one-to-many.
"""

import numpy as np

from app.avatar.emotions import EMOTIONS, check_emotion
from app.data.speech.base import Prosody

#                 rate  pitch range volume
EMOTION_PROSODY: dict[str, tuple[float, float, float, float]] = {
    "neutral": (1.00, 1.00, 1.00, 1.00),
    "happy": (1.10, 1.20, 1.40, 1.15),
    "sad": (0.78, 0.85, 0.50, 0.75),
    "angry": (1.15, 1.10, 1.50, 1.45),
    "surprised": (1.05, 1.35, 1.70, 1.15),
    "disgusted": (0.85, 0.88, 1.00, 0.90),
    "fearful": (1.20, 1.25, 0.75, 1.00),
    "contemptuous": (0.88, 0.90, 1.15, 1.00),
}
assert set(EMOTION_PROSODY) == set(EMOTIONS)

SPREAD = 0.05  # per-clip relative spread of each factor (standard deviation)


def prosody_for_emotion(emotion: str, intensity: float = 1.0,
                        rng: np.random.Generator | None = None) -> Prosody:
    """The prosody of speech in an emotion at an intensity in 0..1, with an optional
    random per-clip spread."""
    check_emotion(emotion, intensity)
    factors = np.array(EMOTION_PROSODY[emotion])
    factors = 1.0 + intensity * (factors - 1.0)
    if rng is not None:
        factors = factors * np.exp(rng.normal(0.0, SPREAD, size=factors.shape))
    rate, pitch, pitch_range, volume = (float(f) for f in factors)
    return Prosody(rate=rate, pitch=pitch, pitch_range=pitch_range, volume=volume)
