"""Causal log-mel: streaming equals whole, no look-ahead, fixed floor, bad samples are silence."""

import pytest
import torch

from app.audio.contract import MEL_BINS, SAMPLES_PER_FRAME
from app.audio.features import LogMel, StreamingLogMel, mel_filterbank
from app.model.config import ModelConfig

CONFIG = ModelConfig()


@pytest.fixture
def log_mel():
    return LogMel(CONFIG.mel_mean, CONFIG.mel_std, CONFIG.mel_log_floor)


def speechy(frames: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = frames * SAMPLES_PER_FRAME
    t = torch.arange(n) / 16000.0
    tone = torch.sin(2 * torch.pi * 180.0 * t) * (0.5 + 0.5 * torch.sin(2 * torch.pi * 3.0 * t))
    return 0.3 * tone + 0.05 * torch.randn(batch, n, generator=g)


def test_shape_is_two_mel_frames_per_animation_frame(log_mel):
    assert log_mel(speechy(7)).shape == (2, 14, MEL_BINS)


@pytest.mark.parametrize("block_samples", [160, 320, 960])
def test_streaming_matches_whole_clip(log_mel, block_samples):
    audio = speechy(30)
    whole = log_mel(audio)
    streaming = StreamingLogMel(log_mel)
    state, parts = streaming.initial_state(2), []
    for start in range(0, audio.shape[1], block_samples):
        features, state = streaming.step(state, audio[:, start:start + block_samples])
        parts.append(features)
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5, rtol=0)


def test_audio_after_frame_end_changes_no_earlier_feature(log_mel):
    audio = speechy(20)
    t = 9  # animation frame t ends at sample 320 (t + 1)
    changed = audio.clone()
    changed[:, SAMPLES_PER_FRAME * (t + 1):] = torch.randn_like(changed[:, SAMPLES_PER_FRAME * (t + 1):])
    before, after = log_mel(audio), log_mel(changed)
    assert torch.equal(before[:, : 2 * t + 2], after[:, : 2 * t + 2])
    assert not torch.allclose(before[:, 2 * t + 2], after[:, 2 * t + 2])


def test_frame_window_reaches_back_240_samples(log_mel):
    audio = speechy(10)
    j = 8  # mel frame j covers samples [160 j - 240, 160 j + 160)
    changed = audio.clone()
    changed[:, 160 * j - 241] += 0.5  # just before the window: frame j is untouched
    assert torch.equal(log_mel(audio)[:, j], log_mel(changed)[:, j])
    changed[:, 160 * j - 239] += 0.5  # first sample the Hann window weights (w[0] = 0)
    assert not torch.equal(log_mel(audio)[:, j], log_mel(changed)[:, j])


def test_filterbank_is_htk_triangles_with_no_empty_band():
    bank = mel_filterbank()
    assert bank.shape == (257, MEL_BINS)
    assert (bank.sum(dim=0) > 0.3).all()
    assert bank.max() <= 1.0 and bank.min() >= 0.0


def test_silence_sits_on_the_fixed_floor(log_mel):
    features = log_mel(torch.zeros(1, 640))
    floor = (torch.log(torch.tensor(CONFIG.mel_log_floor)) - CONFIG.mel_mean) / CONFIG.mel_std
    assert torch.allclose(features, floor.expand_as(features))


def test_a_dc_offset_changes_nothing_once_the_window_is_inside_the_clip(log_mel):
    """A recording's constant offset (LibriVox sits at +0.007) must not look like sound:
    silence with an offset stays on the floor, speech with one keeps its features."""
    quiet = log_mel(torch.full((1, 1600), 0.01))[:, 3:]  # frames 0-2 reach into the padding
    floor = (torch.log(torch.tensor(CONFIG.mel_log_floor)) - CONFIG.mel_mean) / CONFIG.mel_std
    assert torch.allclose(quiet, floor.expand_as(quiet), atol=0.05)
    audio = speechy(10, batch=1)
    assert torch.allclose(log_mel(audio + 0.05)[:, 3:], log_mel(audio)[:, 3:], atol=1e-3)


def test_non_finite_samples_count_as_silence_and_loud_audio_is_clipped(log_mel):
    audio = speechy(5, batch=1)
    broken = audio.clone()
    broken[0, 100], broken[0, 700], broken[0, 1200] = float("nan"), float("inf"), -float("inf")
    zeroed = audio.clone()
    zeroed[0, [100, 700, 1200]] = 0.0
    assert torch.equal(log_mel(broken), log_mel(zeroed))
    huge = log_mel(audio * 1e30)
    assert torch.isfinite(huge).all()
    assert torch.equal(huge, log_mel(audio.sign()))
