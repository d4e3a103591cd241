"""Per-frame loudness and pitch of a clip, the prosody the teacher animation follows.

Frame t covers samples [320 t, 320 (t + 1)) (the audio contract); the last frame is
zero-padded. The teacher sees the whole clip, so normalisation is per clip and smoothing
is non-causal; none of this runs on the live path.
"""

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME

F0_MIN_HZ = 60.0
F0_MAX_HZ = 400.0
_PITCH_WINDOW_SAMPLES = 2 * SAMPLES_PER_FRAME  # 40 ms: two periods of the lowest f0
_VOICING_THRESHOLD = 0.45  # normalised autocorrelation peak that counts as voiced
_SILENT_RMS = 1e-4  # a clip quieter than this at its loud end carries no loudness cue


def frame_count(duration_s: float) -> int:
    """Frames of a clip: ceil(duration * 50), so every sample belongs to a frame."""
    return int(np.ceil(round(duration_s * SAMPLE_RATE_HZ) / SAMPLES_PER_FRAME))


def _framed(audio: np.ndarray, frames: int, width: int) -> np.ndarray:
    """(frames, width) windows centred on each frame's centre, zero-padded at both ends."""
    centres = np.arange(frames) * SAMPLES_PER_FRAME + SAMPLES_PER_FRAME // 2
    pad = width
    padded = np.pad(audio, (pad, pad + frames * SAMPLES_PER_FRAME))
    starts = centres - width // 2 + pad
    return padded[starts[:, None] + np.arange(width)[None, :]]


def frame_rms(audio: np.ndarray, frames: int) -> np.ndarray:
    """Root-mean-square amplitude of each 20 ms frame (frames,)."""
    padded = np.zeros(frames * SAMPLES_PER_FRAME, dtype=np.float32)
    length = min(len(audio), len(padded))
    padded[:length] = audio[:length]
    return np.sqrt(np.mean(padded.reshape(frames, SAMPLES_PER_FRAME) ** 2, axis=1))


def smooth(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Non-causal Gaussian smoothing along time (axis 0), edges held."""
    if sigma_frames <= 0 or len(values) < 2:
        return values
    radius = int(np.ceil(3 * sigma_frames))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values, [(radius, radius)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    out = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, padded)
    return out.astype(values.dtype, copy=False)


def loudness(audio: np.ndarray, frames: int) -> np.ndarray:
    """Loudness per frame (frames,), about 1 for the clip's loud speech and 0 in silence.

    RMS divided by the clip's 95th percentile (robust to a few clicks), clipped at 1.3 and
    smoothed over ~30 ms. A clip with no energy gets a flat 0.7: no cue, average jaw.
    """
    rms = frame_rms(audio, frames)
    reference = float(np.percentile(rms, 95)) if frames else 0.0
    if reference < _SILENT_RMS:
        return np.full(frames, 0.7, dtype=np.float32)
    return smooth(np.clip(rms / reference, 0.0, 1.3).astype(np.float32), 1.5)


def pitch_hz(audio: np.ndarray, frames: int) -> np.ndarray:
    """f0 per frame in Hz (frames,), 0 where unvoiced, by normalised autocorrelation.

    Each 40 ms window centred on a frame is autocorrelated through the FFT; the highest
    peak between the lags of 400 Hz and 60 Hz gives the period when its normalised height
    passes 0.45 and the frame is not near-silent. Parabolic interpolation refines the lag.
    """
    windows = _framed(np.asarray(audio, dtype=np.float32), frames, _PITCH_WINDOW_SAMPLES)
    windows = windows - windows.mean(axis=1, keepdims=True)
    windows *= np.hanning(_PITCH_WINDOW_SAMPLES)[None, :]
    spectrum = np.fft.rfft(windows, n=2 * _PITCH_WINDOW_SAMPLES, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :_PITCH_WINDOW_SAMPLES]
    energy = acf[:, :1]
    # Boersma's correction: divide by the window's own autocorrelation, which falls with lag.
    window = np.hanning(_PITCH_WINDOW_SAMPLES)
    overlap = np.correlate(window, window, mode="full")
    overlap = overlap[_PITCH_WINDOW_SAMPLES - 1:] / overlap[_PITCH_WINDOW_SAMPLES - 1]
    norm = acf / np.maximum(energy, 1e-12) / np.maximum(overlap, 1e-3)[None, :]
    low, high = int(SAMPLE_RATE_HZ / F0_MAX_HZ), int(SAMPLE_RATE_HZ / F0_MIN_HZ)
    band = norm[:, low:high + 1]
    # The shortest lag whose local peak nearly matches the highest one: multiples of the
    # period peak as high as the period itself and would halve the f0.
    is_peak = np.zeros_like(band, dtype=bool)
    is_peak[:, 1:-1] = (band[:, 1:-1] >= band[:, :-2]) & (band[:, 1:-1] >= band[:, 2:])
    near_top = band >= 0.9 * band.max(axis=1, keepdims=True)
    candidates = is_peak & near_top
    best = np.where(candidates.any(axis=1), np.argmax(candidates, axis=1), np.argmax(band, axis=1))
    peak = band[np.arange(frames), best]
    lag = (best + low).astype(np.float64)
    inner = (best > 0) & (best < band.shape[1] - 1)
    rows = np.flatnonzero(inner)
    left, mid, right = (band[rows, best[rows] - 1], band[rows, best[rows]],
                        band[rows, best[rows] + 1])
    curvature = left - 2 * mid + right
    safe = np.where(curvature < 0, curvature, -1.0)
    lag[rows] += np.where(curvature < 0, 0.5 * (left - right) / safe, 0.0)
    rms = frame_rms(audio, frames)
    loud_enough = rms > 0.05 * max(float(np.percentile(rms, 95)) if frames else 0.0, _SILENT_RMS)
    voiced = (peak > _VOICING_THRESHOLD) & loud_enough
    return np.where(voiced, SAMPLE_RATE_HZ / lag, 0.0).astype(np.float32)


def pitch_z(f0_hz: np.ndarray) -> np.ndarray:
    """Pitch in semitones from the clip's median voiced f0, divided by its spread (at
    least one semitone); 0 where unvoiced. Positive means higher than usual."""
    voiced = f0_hz > 0
    if voiced.sum() < 3:
        return np.zeros_like(f0_hz)
    semitones = 12.0 * np.log2(np.where(voiced, f0_hz, 1.0) / np.median(f0_hz[voiced]))
    spread = max(float(np.std(semitones[voiced])), 1.0)
    return np.where(voiced, semitones / spread, 0.0).astype(np.float32)
