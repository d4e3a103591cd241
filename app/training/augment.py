"""Audio augmentation applied at training time, so synthetic voices transfer to microphones.

Each transform is a pure function of (audio, parameters, rng) on 16 kHz mono float32 and
keeps the length, so the paired face track stays aligned sample for sample. `augment()`
draws a random chain from an `AugmentConfig`; nothing is baked into the data on disk.

One transform changes timing and so is applied by the window sampler to audio and face
together (`app.training.data`): speed perturbation, `change_speed`, plays the audio faster
or slower by resampling, as a tape would. Speech rate, pitch and formants all scale by the
factor, which imitates faster talkers and other vocal tracts (the standard speed
perturbation of speech recognition training, 0.9/1.0/1.1 there; wider here, because the
synthetic voices are few and read slowly).
"""

from dataclasses import dataclass

import numpy as np
import soxr
from scipy import signal

from app.audio.contract import SAMPLE_RATE_HZ

_EPS = 1e-12


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each transform; the defaults mimic consumer microphones."""

    noise_probability: float = 0.6
    snr_db_range: tuple[float, float] = (5.0, 35.0)
    reverb_probability: float = 0.4
    rt60_s_range: tuple[float, float] = (0.15, 0.8)
    gain_db_range: tuple[float, float] = (-18.0, 6.0)
    bandlimit_probability: float = 0.3
    resample_probability: float = 0.3
    resample_rates_hz: tuple[int, ...] = (8_000, 11_025, 22_050, 44_100, 48_000)
    speed_probability: float = 0.0  # the window sampler's speed perturbation (off by default)
    speed_range: tuple[float, float] = (0.85, 1.3)  # factor > 1: faster, higher voice

    def draw_speed(self, rng: np.random.Generator) -> float:
        """A speed factor, uniform in log between the range's ends, or 1 (unchanged)."""
        if rng.random() >= self.speed_probability:
            return 1.0
        low, high = np.log(self.speed_range)
        return float(np.exp(rng.uniform(low, high)))


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)) + _EPS))


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add coloured noise (a random mix of white, pink and brown) at a signal-to-noise ratio."""
    white = rng.standard_normal(audio.size)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(audio.size, 1.0 / SAMPLE_RATE_HZ)
    # Power falls as 1/f^alpha: alpha 0 white, 1 pink, 2 brown.
    alpha = rng.uniform(0.0, 2.0)
    spectrum /= np.maximum(freqs, 20.0) ** (alpha / 2.0)
    noise = np.fft.irfft(spectrum, n=audio.size)
    scale = _rms(audio) / (_rms(noise) * 10.0 ** (snr_db / 20.0))
    return (audio + scale * noise).astype(np.float32)


def room_impulse_response(rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: direct sound, sparse early reflections, then a diffuse tail.

    The tail is noise with an exponential envelope that falls 60 dB in `rt60_s`
    (Sabine's definition of reverberation time): amplitude exp(-6.9 t / RT60).
    """
    length = int(rt60_s * SAMPLE_RATE_HZ)
    t = np.arange(length) / SAMPLE_RATE_HZ
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60_s)
    tail[: int(0.005 * SAMPLE_RATE_HZ)] = 0.0  # the diffuse tail starts after ~5 ms
    early = np.zeros(length)
    delays = rng.integers(int(0.002 * SAMPLE_RATE_HZ), int(0.05 * SAMPLE_RATE_HZ), size=8)
    early[delays] = rng.uniform(-0.5, 0.5, size=8)
    rir = 0.3 * tail + early
    rir[0] = 1.0
    return rir / np.linalg.norm(rir)


def add_reverb(audio: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room impulse response, keeping length and loudness."""
    wet = signal.fftconvolve(audio, room_impulse_response(rt60_s, rng))[: audio.size]
    return (wet * (_rms(audio) / _rms(wet))).astype(np.float32)


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by a gain in dB and clip to [-1, 1] as a real converter does."""
    return np.clip(audio * 10.0 ** (gain_db / 20.0), -1.0, 1.0).astype(np.float32)


def band_limit(audio: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """A telephone- or headset-like band-pass (4th-order Butterworth, zero phase)."""
    sos = signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=SAMPLE_RATE_HZ, output="sos")
    return signal.sosfiltfilt(sos, audio).astype(np.float32)


def resample_round_trip(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """Down- or up-sample to a device rate and back, as capture at that rate would."""
    there = soxr.resample(audio, SAMPLE_RATE_HZ, rate_hz)
    back = soxr.resample(there, rate_hz, SAMPLE_RATE_HZ)
    out = np.zeros_like(audio)
    out[: min(back.size, audio.size)] = back[: audio.size]
    return out.astype(np.float32)


def change_speed(audio: np.ndarray, factor: float, samples: int) -> np.ndarray:
    """`audio` played `factor` times faster, as `samples` samples: output sample j is input
    time j * factor (soxr's filter is linear-phase and delay-compensated, so nothing
    shifts), zero-padded or cut to length."""
    out = soxr.resample(np.asarray(audio, dtype=np.float32), SAMPLE_RATE_HZ * factor,
                        SAMPLE_RATE_HZ)
    return np.pad(out[:samples], (0, max(0, samples - out.size))).astype(np.float32)


def augment(audio: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """One random chain: room, device rate, band, noise, then gain (the order sound travels)."""
    out = np.asarray(audio, dtype=np.float32)
    if rng.random() < config.reverb_probability:
        out = add_reverb(out, rng.uniform(*config.rt60_s_range), rng)
    if rng.random() < config.resample_probability:
        out = resample_round_trip(out, int(rng.choice(config.resample_rates_hz)))
    if rng.random() < config.bandlimit_probability:
        out = band_limit(out, rng.uniform(80.0, 300.0), rng.uniform(3_400.0, 7_000.0))
    if rng.random() < config.noise_probability:
        out = add_noise(out, rng.uniform(*config.snr_db_range), rng)
    return apply_gain(out, rng.uniform(*config.gain_db_range))
