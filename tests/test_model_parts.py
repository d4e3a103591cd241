"""Config round trip, expression codec ranges, causal audio encoder streaming."""

import json

import pytest
import torch

from app.avatar.rig import RIG_MAX, RIG_MIN, RIG_SIZE
from app.model.audio_encoder import AudioEncoder
from app.model.codec import ExpressionCodec
from app.model.config import ModelConfig, tiny_config


def test_config_round_trips_through_json():
    config = tiny_config(audio_dilations=(1, 3), causal=False)
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.audio_dilations, tuple)
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**config.to_dict(), "d_modle": 3})


def test_codec_shapes_and_ranges_hold_for_any_latent():
    torch.manual_seed(0)
    codec = ExpressionCodec(tiny_config())
    latent = torch.randn(3, 5, 32) * torch.tensor([0.1, 10.0, 1e4]).view(3, 1, 1)
    decoded = codec.decode(latent)
    assert decoded.rig.shape == (3, 5, RIG_SIZE)
    assert decoded.wrinkle.shape == decoded.flush.shape == (3, 5, 6)
    assert (decoded.rig >= torch.from_numpy(RIG_MIN)).all()
    assert (decoded.rig <= torch.from_numpy(RIG_MAX)).all()
    for texture in (decoded.wrinkle, decoded.flush):
        assert (texture >= 0).all() and (texture <= 1).all()
    rig = torch.from_numpy(RIG_MIN + (RIG_MAX - RIG_MIN) * 0.3).expand(4, RIG_SIZE)
    assert codec.encode(rig).shape == (4, 32)
    assert codec.decode(codec.encode(rig)).rig.shape == (4, RIG_SIZE)


def test_fresh_decoder_rests_near_the_neutral_face():
    rig = ExpressionCodec(tiny_config()).decode(torch.zeros(32)).rig
    assert rig[:52].max() < 0.1 and rig[52:].abs().max() < 0.2


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return AudioEncoder(tiny_config()).eval()


def test_encoder_halves_the_mel_rate(encoder):
    features, _ = encoder(torch.randn(2, 24, 80))
    assert features.shape == (2, 12, 16)


@pytest.mark.parametrize("frames_per_block", [1, 3])
def test_encoder_streaming_matches_whole(encoder, frames_per_block):
    mel = torch.randn(2, 40, 80)
    whole, _ = encoder(mel)
    state, parts = encoder.initial_state(2, mel), []
    for start in range(0, 40, 2 * frames_per_block):
        features, state = encoder(mel[:, start:start + 2 * frames_per_block], state)
        parts.append(features)
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5, rtol=0)


def test_encoder_has_no_look_ahead_and_a_finite_receptive_field(encoder):
    mel = torch.randn(1, 60, 80)
    t = 20
    changed = mel.clone()
    changed[:, 2 * t + 2:] += 1.0  # mel frames after animation frame t
    before, after = encoder(mel)[0], encoder(changed)[0]
    assert torch.equal(before[:, : t + 1], after[:, : t + 1])
    assert not torch.allclose(before[:, t + 1], after[:, t + 1])
    # tiny config: input window 4 mel frames (2t-2 .. 2t+1), then dilations 1, 2 (kernel 3):
    # frame t sees frames t-6 .. t, i.e. mel frames 2t-14 .. 2t+1
    early = mel.clone()
    early[:, 2 * t - 15] += 1.0
    assert torch.equal(encoder(early)[0][:, t], before[:, t])
    early[:, 2 * t - 14] += 1.0
    assert not torch.equal(encoder(early)[0][:, t], before[:, t])


def test_streaming_convolution_path_equals_torchs():
    """The gathered-taps product used for a streaming step's few outputs is the same
    convolution torch computes, for every kernel, dilation and stride the encoder uses."""
    import torch

    from app.model.audio_encoder import CausalConv

    torch.manual_seed(0)
    for kernel, dilation, stride in ((3, 1, 1), (3, 2, 1), (3, 8, 1), (4, 1, 2), (5, 3, 1)):
        conv = CausalConv(6, 5, kernel, dilation, stride)
        span = dilation * (kernel - 1) + 1
        for outputs in (1, 2, 4):
            x = torch.randn(2, span + stride * (outputs - 1), 6)  # time-major
            expected = conv.conv(x.transpose(1, 2)).transpose(1, 2)
            assert torch.allclose(conv.convolve(x), expected, atol=1e-6), (kernel, dilation)
