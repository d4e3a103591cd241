"""Causal log-mel features: 80 bins, 25 ms Hann window, 10 ms hop, 16 kHz.

Mel frame j covers samples [160 j - 240, 160 j + 160) of the clip (zeros before its start),
so the window *ends* at the hop boundary: when animation frame t ends (sample 320 (t + 1)),
mel frames 2t and 2t + 1 are complete and nothing later is needed. A clip of N samples
(N a multiple of 160) gives N / 160 frames.

Each frame's mean is removed before windowing (as Kaldi's front end does): microphones and
recordings often carry a DC offset (LibriVox readings sit at about +0.007), which would
otherwise fill the lowest bins and make a pause look like sound.

The filterbank uses the HTK mel formula, mel(f) = 2595 log10(1 + f / 700), with triangles
of unit peak (no Slaney area normalisation). The log has a fixed floor and the result is
standardised with fixed global constants (from the model config), never per clip: a live
stream has no "whole clip" to normalise over.

Pure torch: no files, devices or clocks. Non-finite samples count as silence and samples
are clipped to full scale, so a glitching source can never put NaN or inf into the model.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from app.audio.contract import MEL_BINS, MEL_HOP_SAMPLES, MEL_WINDOW_SAMPLES, SAMPLE_RATE_HZ

FFT_SIZE = 512  # the 400-sample window zero-padded to a power of two
TAIL_SAMPLES = MEL_WINDOW_SAMPLES - MEL_HOP_SAMPLES  # 240 samples of history per frame


def htk_mel(freq_hz: Tensor) -> Tensor:
    return 2595.0 * torch.log10(1.0 + freq_hz / 700.0)


def htk_hz(mel: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(num_bins: int = MEL_BINS, fft_size: int = FFT_SIZE,
                   sample_rate_hz: int = SAMPLE_RATE_HZ) -> Tensor:
    """(fft_size // 2 + 1, num_bins) triangles evenly spaced on the HTK mel scale, 0..Nyquist."""
    fft_hz = torch.linspace(0.0, sample_rate_hz / 2, fft_size // 2 + 1, dtype=torch.float64)
    top_mel = htk_mel(torch.tensor(sample_rate_hz / 2, dtype=torch.float64))
    edges_hz = htk_hz(torch.linspace(0.0, float(top_mel), num_bins + 2, dtype=torch.float64))
    low, centre, high = edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]
    rising = (fft_hz[:, None] - low) / (centre - low)
    falling = (high - fft_hz[:, None]) / (high - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


def sanitise_audio(audio: Tensor) -> Tensor:
    """NaN/inf samples become silence; everything else is clipped to full scale (+-1)."""
    return torch.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0).clamp(-1.0, 1.0)


class LogMel(nn.Module):
    """Whole-clip causal log-mel: `forward(audio (B, N)) -> (B, N / 160, 80)`, standardised."""

    def __init__(self, mean: float, std: float, log_floor: float):
        super().__init__()
        self.mean, self.std, self.log_floor = mean, std, log_floor
        self.register_buffer("window", torch.hann_window(MEL_WINDOW_SAMPLES, periodic=True),
                             persistent=False)
        self.register_buffer("filterbank", mel_filterbank(), persistent=False)

    def forward(self, audio: Tensor) -> Tensor:
        if audio.shape[-1] % MEL_HOP_SAMPLES:
            raise ValueError(f"audio length must be a multiple of {MEL_HOP_SAMPLES} samples")
        padded = nn.functional.pad(sanitise_audio(audio), (TAIL_SAMPLES, 0))  # left only
        return self.frames_to_features(padded)

    def frames_to_features(self, padded: Tensor) -> Tensor:
        """Features of every full window in `padded` (which already carries its history)."""
        frames = padded.unfold(-1, MEL_WINDOW_SAMPLES, MEL_HOP_SAMPLES)  # (B, F, 400)
        frames = frames - frames.mean(dim=-1, keepdim=True)  # DC offset, per frame
        spectrum = torch.fft.rfft(frames * self.window, n=FFT_SIZE)
        power = torch.view_as_real(spectrum).square().sum(dim=-1)
        mel = power @ self.filterbank
        log_mel = torch.log(mel.clamp_min(self.log_floor))  # fixed floor, not per-clip
        return (log_mel - self.mean) / self.std


@dataclass(frozen=True)
class MelState:
    """The last 240 samples seen: the history the next frames' windows reach back into."""

    tail: Tensor  # (B, 240)


class StreamingLogMel:
    """Block-by-block log-mel that matches `LogMel` on the whole clip.

    `step(state, block (B, 160 k)) -> (features (B, k, 80), state)`; a 320-sample animation
    block gives exactly the two mel frames that end inside it.
    """

    def __init__(self, log_mel: LogMel):
        self.log_mel = log_mel

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> MelState:
        return MelState(torch.zeros(batch, TAIL_SAMPLES, device=device, dtype=dtype))

    def step(self, state: MelState, block: Tensor) -> tuple[Tensor, MelState]:
        if block.shape[-1] % MEL_HOP_SAMPLES:
            raise ValueError(f"a block must be a multiple of {MEL_HOP_SAMPLES} samples")
        padded = torch.cat([state.tail, sanitise_audio(block)], dim=-1)
        features = self.log_mel.frames_to_features(padded)
        return features, MelState(padded[:, -TAIL_SAMPLES:])
