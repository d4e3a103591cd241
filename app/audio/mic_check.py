"""The microphone check of the calibration: how loud the room is, how loud the voice is,
whether it clips, and what to change.

The user is quiet for a moment, then speaks as they will in VR. Levels are RMS over the
20 ms blocks the model hears: the room is the median block of the quiet part, the voice
the 90th percentile of the speaking part (speech has pauses; the loud blocks are the
voice). The model was trained on speech from about -40 to -10 dBFS; below, it hears the
room as much as the voice.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.audio.contract import SAMPLES_PER_FRAME
from app.audio.sources import CLIP_LEVEL, SILENCE_DBFS, AudioSource, Clock
from app.errors import LivefaceError

QUIET_VOICE_DBFS = -40.0  # a voice below this is too quiet
GOOD_SNR_DB = 20.0  # voice over room: at least this is comfortable
POOR_SNR_DB = 10.0  # below this the room masks the voice
NO_VOICE_DB = 6.0  # a voice this little above the room was not heard at all
READ_SAMPLES = 16000
POLL_S = 0.01


@dataclass(frozen=True)
class MicCheck:
    device: str
    room_dbfs: float
    voice_dbfs: float
    peak: float
    clipped_samples: int

    @property
    def snr_db(self) -> float:
        return self.voice_dbfs - self.room_dbfs

    def advice(self) -> list[str]:
        """What to change, most important first; empty when the microphone is fine."""
        if self.snr_db < NO_VOICE_DB:
            return ["no voice was heard: check that this is the microphone you speak into "
                    "and that it is not muted."]
        advice = []
        if self.clipped_samples:
            advice.append("the voice clips: lower the microphone's input gain.")
        if self.voice_dbfs < QUIET_VOICE_DBFS:
            advice.append("the voice is quiet: raise the input gain or move the microphone "
                          "closer.")
        if self.snr_db < POOR_SNR_DB:
            advice.append("the room is loud next to the voice: move the microphone closer, "
                          "use a headset microphone or quieten the room.")
        return advice

    @property
    def verdict(self) -> str:
        if not self.advice():
            return "good" if self.snr_db >= GOOD_SNR_DB else "usable"
        return "needs attention"

    def to_dict(self) -> dict:
        return {"device": self.device, "room_dbfs": round(self.room_dbfs, 1),
                "voice_dbfs": round(self.voice_dbfs, 1), "snr_db": round(self.snr_db, 1),
                "peak": round(self.peak, 4), "clipped_samples": self.clipped_samples,
                "verdict": self.verdict, "advice": self.advice()}


def _block_dbfs(samples: np.ndarray) -> np.ndarray:
    """RMS level (dBFS) of each whole 20 ms block."""
    blocks = samples[: len(samples) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME]
    blocks = blocks.reshape(-1, SAMPLES_PER_FRAME).astype(np.float64)
    rms = np.sqrt(np.mean(blocks ** 2, axis=1))
    return np.where(rms > 0, 20 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DBFS)


def record(source: AudioSource, clock: Clock, duration_s: float) -> np.ndarray:
    """`duration_s` of 16 kHz audio from a started source (what arrives meanwhile)."""
    parts, end_s = [], clock.now_s() + duration_s
    while clock.now_s() < end_s:
        samples, _ = source.read(READ_SAMPLES)
        if samples.size:
            parts.append(samples)
        else:
            clock.sleep_s(POLL_S)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def check_microphone(source: AudioSource, clock: Clock, quiet_s: float, speech_s: float,
                     prompt: Callable[[str], None] = print) -> MicCheck:
    """Ask for quiet, then for speech, and measure both; `source` is started and stopped
    here."""
    source.start()
    try:
        record(source, clock, 0.3)  # the device's first buffers: often a click or a ramp
        prompt(f"stay quiet for {quiet_s:g} s ...")
        room = record(source, clock, quiet_s)
        prompt(f"now speak as you will in VR, for {speech_s:g} s (counting aloud will do) ...")
        voice = record(source, clock, speech_s)
        device = source.status.device_name
    finally:
        source.stop()
    if len(room) < SAMPLES_PER_FRAME or len(voice) < SAMPLES_PER_FRAME:
        raise LivefaceError("the microphone delivered no audio; check that it is connected "
                            "and not used by another program.")
    peak = float(np.max(np.abs(voice)))
    clipped = int(np.count_nonzero(np.abs(voice) >= CLIP_LEVEL))
    room_dbfs = float(np.median(_block_dbfs(room)))
    voice_dbfs = float(np.percentile(_block_dbfs(voice), 90))
    return MicCheck(device, room_dbfs, voice_dbfs, peak, clipped)


def describe(check: MicCheck) -> str:
    lines = [f"microphone {check.device}: {check.verdict}",
             f"  room  {check.room_dbfs:6.1f} dBFS",
             f"  voice {check.voice_dbfs:6.1f} dBFS  ({check.snr_db:.0f} dB over the room)",
             f"  peak  {check.peak:.3f}" + (f", {check.clipped_samples} samples clipped"
                                           if check.clipped_samples else "")]
    lines += [f"  - {line}" for line in check.advice()]
    return "\n".join(lines)
