import numpy as np
import pytest

from app.audio.contract import SAMPLE_RATE_HZ
from app.training import augment as aug


@pytest.fixture
def speechlike():
    """Two seconds of a voiced, amplitude-modulated harmonic tone: syllables at 4 Hz."""
    t = np.arange(2 * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    return (0.2 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def _snr_db(clean, noisy):
    return 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))


@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_noise_hits_the_requested_snr(speechlike, snr):
    noisy = aug.add_noise(speechlike, snr, np.random.default_rng(0))
    assert _snr_db(speechlike, noisy) == pytest.approx(snr, abs=0.1)


def test_reverb_decays_at_the_requested_rt60():
    rng = np.random.default_rng(1)
    rir = aug.room_impulse_response(0.5, rng)
    energy = np.cumsum(rir[::-1] ** 2)[::-1]  # Schroeder backward integration
    decay_db = 10 * np.log10(energy / energy[0])
    t_minus_20 = np.argmax(decay_db < -20) / SAMPLE_RATE_HZ
    t_minus_5 = np.argmax(decay_db < -5) / SAMPLE_RATE_HZ
    rt60_estimate = 3 * (t_minus_20 - t_minus_5) * 60 / 45  # T15 scaled to 60 dB
    assert 0.3 < rt60_estimate < 0.75


def test_reverb_smears_but_keeps_length_and_level(speechlike):
    wet = aug.add_reverb(speechlike, 0.6, np.random.default_rng(2))
    assert wet.shape == speechlike.shape and wet.dtype == np.float32
    assert np.sqrt(np.mean(wet**2)) == pytest.approx(np.sqrt(np.mean(speechlike**2)), rel=0.01)
    assert np.corrcoef(wet, speechlike)[0, 1] < 0.95


def test_band_limit_removes_out_of_band_energy(speechlike):
    limited = aug.band_limit(speechlike, 300.0, 3400.0)
    spectrum = np.abs(np.fft.rfft(limited))
    freqs = np.fft.rfftfreq(limited.size, 1 / SAMPLE_RATE_HZ)
    assert spectrum[np.abs(freqs - 140) < 5].max() < 0.1 * np.abs(np.fft.rfft(speechlike)).max()


def test_resample_round_trip_loses_only_the_top_band(speechlike):
    back = aug.resample_round_trip(speechlike, 8000)
    assert back.shape == speechlike.shape
    assert np.corrcoef(back, speechlike)[0, 1] > 0.95  # content below 4 kHz survives


def test_gain_clips_like_a_converter(speechlike):
    loud = aug.apply_gain(speechlike, 40.0)
    assert np.abs(loud).max() == 1.0


def test_augment_is_reproducible_and_varied(speechlike):
    config = aug.AugmentConfig()
    first = aug.augment(speechlike, config, np.random.default_rng(7))
    again = aug.augment(speechlike, config, np.random.default_rng(7))
    other = aug.augment(speechlike, config, np.random.default_rng(8))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert first.shape == speechlike.shape and np.all(np.isfinite(first))
