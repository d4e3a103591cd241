"""What a model has to beat, scored beside it by `liveface eval`.

None of these learns from the audio the way the model does:
- still_face: the neutral face held still, whatever is said;
- mean_face: the training data's average face held still (in `evaluate`: it needs the data);
- loudness: the jaw follows the level of each 20 ms block (`LoudnessAnimator`), what many VR
  apps do for voice chat;
- phone_recogniser: a classical lip-sync pipeline, as Rhubarb Lip Sync builds on
  pocketsphinx: pocketsphinx's phone-loop decoder (its en-us acoustic model, trained on
  recorded US English, with its phone bigram) transcribes the clip into timed phones, and
  the procedural teacher animates them. It decodes each clip whole, so it hears the future
  (as Rhubarb does): a stronger baseline than a streaming one would be.
"""

import os
from collections.abc import Callable

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
from app.avatar.rig import neutral_rig
from app.data.phones import map_symbol
from app.data.timeline import SILENCE, Phone, Timeline

Predictor = Callable[[np.ndarray], np.ndarray]  # 16 kHz audio -> (T, 57) rig track

FRAME_S = 0.01  # pocketsphinx's frame


def _frames(audio: np.ndarray) -> int:
    return -(-len(audio) // SAMPLES_PER_FRAME)


def still_face(audio: np.ndarray) -> np.ndarray:
    return np.repeat(neutral_rig()[None], _frames(audio), axis=0).astype(np.float32)


def loudness(audio: np.ndarray) -> np.ndarray:
    """The loudness stand-in, block by block as it runs live."""
    from app.live.animators import LoudnessAnimator

    animator = LoudnessAnimator()
    padded = np.zeros(_frames(audio) * SAMPLES_PER_FRAME, np.float32)
    padded[: len(audio)] = audio
    blocks = padded.reshape(-1, SAMPLES_PER_FRAME)
    return np.concatenate([animator.push(block).rig.reshape(1, -1) for block in blocks])


def recognised_phones(audio: np.ndarray) -> Timeline:
    """The phones pocketsphinx's phone loop hears in the clip, as a timeline."""
    import pocketsphinx

    model = os.path.join(os.path.dirname(pocketsphinx.__file__), "model", "en-us",
                         "en-us-phone.lm.bin")
    decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE_HZ, allphone=model, lw=2.0, pip=0.3,
                                   beam=1e-20, pbeam=1e-20, backtrace=False, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw((np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes(),
                        full_utt=True)
    decoder.end_utt()
    duration_s = len(audio) / SAMPLE_RATE_HZ
    phones = []
    for seg in decoder.seg():
        start_s, end_s = seg.start_frame * FRAME_S, min((seg.end_frame + 1) * FRAME_S, duration_s)
        if end_s <= start_s:
            continue
        name = SILENCE if seg.word in ("SIL", "<sil>") or seg.word.startswith("+") else \
            map_symbol(seg.word, "pocketsphinx").phone
        phones.append(Phone(start_s, end_s, name))
    return Timeline(tuple(_filled(phones, duration_s)), (), "en", duration_s)


def _filled(phones: list[Phone], duration_s: float) -> list[Phone]:
    """Silence wherever the decoder said nothing."""
    out, cursor = [], 0.0
    for phone in [*phones, Phone(duration_s, duration_s, SILENCE)]:
        if phone.start_s > cursor + 1e-6:
            out.append(Phone(cursor, phone.start_s, SILENCE))
        if phone.end_s > phone.start_s:
            out.append(phone)
        cursor = max(cursor, phone.end_s)
    return out


def phone_recogniser(audio: np.ndarray) -> np.ndarray:
    from app.data.teacher import animate

    return animate(recognised_phones(audio), audio, seed=0)


BASELINES: dict[str, Predictor] = {"still_face": still_face, "loudness": loudness,
                                   "phone_recogniser": phone_recogniser}
