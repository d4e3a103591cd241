"""Streaming animator: block-by-block == whole, no look-ahead, cache == teacher forcing,
bad audio gives sane finite frames."""

import pytest
import torch

from app.audio.contract import SAMPLES_PER_FRAME
from app.avatar.rig import RIG_MAX, RIG_MIN
from app.model.animator import WARM_UP_FRAMES, Animator, StreamingAnimator, animate_clip
from app.model.config import tiny_config
from app.model.denoiser import Conditions
from app.model.diffusion import ddim_sample

B, T = 2, 14  # more frames than the tiny window (6), so the cache wraps


@pytest.fixture(scope="module", params=["plain", "past-level"])
def animator(request):
    """A plain model, and one told its past's corruption level that samples at a lower
    temperature (the shipped kind)."""
    torch.manual_seed(0)
    config = tiny_config() if request.param == "plain" else tiny_config(
        past_conditioning=True, past_level=0.3, noise_scale=0.5)
    model = Animator.build(config).eval()
    torch.nn.init.normal_(model.denoiser.embed.emotion.weight, std=0.5)  # as if trained
    if config.past_conditioning:
        torch.nn.init.normal_(model.denoiser.embed.past_level.weight, std=0.5)
    return model


def clip(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    audio = 0.2 * torch.randn(B, T * SAMPLES_PER_FRAME, generator=g)
    cond = Conditions(0.1 * torch.randn(B, T, 2, generator=g), (torch.rand(B, T, generator=g) > 0.5).float(),
                      torch.randint(0, 8, (B, T), generator=g), torch.rand(B, T, generator=g))
    noise = torch.randn(B, T, 32, generator=g)
    return audio, cond, noise


@pytest.mark.parametrize("steps,guidance", [(1, 1.0), (4, 2.0)])
def test_block_by_block_matches_whole_clip(animator, steps, guidance):
    audio, cond, noise = clip()
    per_frame = animate_clip(animator, audio, cond, noise, steps, guidance)
    whole = animate_clip(animator, audio, cond, noise, steps, guidance, frames_per_block=T)
    odd = animate_clip(animator, audio, cond, noise, steps, guidance, frames_per_block=5)
    assert per_frame.latent.shape == (B, T, 32) and per_frame.rig.shape == (B, T, 57)
    for other in (whole, odd):
        assert torch.allclose(per_frame.latent, other.latent, atol=1e-4, rtol=0)
        assert torch.allclose(per_frame.rig, other.rig, atol=1e-4, rtol=0)
    assert per_frame.audio_end_sample.tolist() == [SAMPLES_PER_FRAME * (t + 1) for t in range(T)]


@pytest.mark.parametrize("steps", [1, 4])
def test_streamed_frames_equal_teacher_forcing_over_the_whole_clip(animator, steps):
    """Given the streamed latents as the clean past, one parallel pass per DDIM step over the
    whole clip (the training path, no cache) must reproduce every streamed latent."""
    audio, cond, noise = clip(1)
    streamed = animate_clip(animator, audio, cond, noise, steps).latent
    # the stream's encoder has heard WARM_UP_FRAMES of silence first, as a training
    # window's context before a clip
    warm = WARM_UP_FRAMES * SAMPLES_PER_FRAME
    features, _ = animator.encoder(animator.log_mel(torch.nn.functional.pad(audio, (warm, 0))))
    features = features[:, WARM_UP_FRAMES:]

    def v_fn(z, t):
        return animator.denoiser.forward_sequence(z, t.expand(z.shape[:2]), features, cond,
                                                  clean=streamed)

    with torch.no_grad():
        parallel = ddim_sample(v_fn, noise * animator.config.noise_scale, steps)
    assert torch.allclose(parallel, streamed, atol=1e-4, rtol=0)


@pytest.mark.parametrize("steps", [1, 3])
def test_audio_after_frame_t_changes_no_frame_up_to_t(animator, steps):
    audio, cond, noise = clip(2)
    t = 8
    changed = audio.clone()
    changed[:, SAMPLES_PER_FRAME * (t + 1):] = 0.9 * torch.sign(torch.randn_like(changed[:, SAMPLES_PER_FRAME * (t + 1):]))
    before = animate_clip(animator, audio, cond, noise, steps)
    after = animate_clip(animator, changed, cond, noise, steps)
    assert torch.equal(before.latent[:, : t + 1], after.latent[:, : t + 1])
    assert not torch.allclose(before.latent[:, t + 1], after.latent[:, t + 1])


def test_emotion_reaches_the_frame(animator):
    audio, cond, noise = clip(3)
    angry = Conditions(cond.gaze, cond.gaze_present, torch.full_like(cond.emotion, 3),
                       torch.ones_like(cond.intensity))
    happy = Conditions(cond.gaze, cond.gaze_present, torch.full_like(cond.emotion, 1),
                       torch.ones_like(cond.intensity))
    a = animate_clip(animator, audio, angry, noise).latent
    b = animate_clip(animator, audio, happy, noise).latent
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("kind", ["nan", "inf", "silence", "clipped", "huge"])
def test_bad_audio_gives_finite_frames_in_range(animator, kind):
    audio, cond, noise = clip(4)
    bad = {
        "nan": audio.masked_fill(torch.rand_like(audio) < 0.3, float("nan")),
        "inf": audio.masked_fill(torch.rand_like(audio) < 0.3, float("inf")),
        "silence": torch.zeros_like(audio),
        "clipped": torch.sign(audio),
        "huge": audio * 1e38,
    }[kind]
    nan_gaze = Conditions(torch.full_like(cond.gaze, float("nan")), cond.gaze_present,
                          cond.emotion, cond.intensity)
    frame = animate_clip(animator, bad, nan_gaze, noise, steps=2)
    for field in (frame.latent, frame.rig, frame.wrinkle, frame.flush):
        assert torch.isfinite(field).all()
    assert (frame.rig >= torch.from_numpy(RIG_MIN)).all() and (frame.rig <= torch.from_numpy(RIG_MAX)).all()


def test_nan_samples_are_treated_as_zeros(animator):
    audio, cond, noise = clip(5)
    holes = torch.rand_like(audio) < 0.2
    with_nan = animate_clip(animator, audio.masked_fill(holes, float("nan")), cond, noise)
    with_zeros = animate_clip(animator, audio.masked_fill(holes, 0.0), cond, noise)
    assert torch.equal(with_nan.latent, with_zeros.latent)


def test_streaming_wrapper_is_reproducible_and_keeps_time(animator):
    audio, _, _ = clip(6)
    runs = []
    for _ in range(2):
        live = StreamingAnimator(animator, torch.zeros(()), steps=1, seed=7)
        frames = [live.push(audio[0, i * SAMPLES_PER_FRAME:(i + 1) * SAMPLES_PER_FRAME],
                            emotion=1, intensity=0.5, gaze=(0.1, -0.1)) for i in range(5)]
        runs.append(torch.cat([f.latent for f in frames], 1))
    assert torch.equal(runs[0], runs[1])
    assert frames[-1].audio_end_sample.tolist() == [5 * SAMPLES_PER_FRAME]


def test_noise_scale_is_the_sampling_temperature():
    """At temperature 0 the sampler starts from the mean and the noise drawn no longer
    matters; at the config's temperature it does."""
    torch.manual_seed(0)
    cold = Animator.build(tiny_config(noise_scale=0.0)).eval()
    warm = Animator.build(tiny_config(noise_scale=0.5)).eval()
    warm.load_state_dict(cold.state_dict())
    audio, cond, noise = clip(7)
    other = torch.randn_like(noise)
    assert torch.equal(animate_clip(cold, audio, cond, noise, 2).latent,
                       animate_clip(cold, audio, cond, other, 2).latent)
    assert not torch.allclose(animate_clip(warm, audio, cond, noise, 2).latent,
                              animate_clip(warm, audio, cond, other, 2).latent)


@pytest.mark.parametrize("ahead", [1, 3])
def test_a_lookahead_model_gives_frame_t_from_the_audio_through_t_plus_lookahead(ahead):
    """Frame t of a clip changes with block t + L and with no block after it; the clip
    keeps its frame count; the stream hands out block n - L's face after block n."""
    torch.manual_seed(0)
    animator = Animator.build(tiny_config(lookahead_frames=ahead)).eval()
    audio, cond, noise = clip(3)
    t = 6
    frames = animate_clip(animator, audio, cond, noise)
    assert frames.rig.shape == (B, T, 57)
    assert frames.audio_end_sample.tolist() == [SAMPLES_PER_FRAME * (k + 1 + ahead)
                                                for k in range(T)]
    last = SAMPLES_PER_FRAME * (t + ahead)  # block t + L starts here
    later, heard = audio.clone(), audio.clone()
    later[:, last + SAMPLES_PER_FRAME:] = 0.9
    heard[:, last:last + SAMPLES_PER_FRAME] = 0.9
    assert torch.equal(animate_clip(animator, later, cond, noise).latent[:, :t + 1],
                       frames.latent[:, :t + 1])
    changed = animate_clip(animator, heard, cond, noise).latent
    assert torch.equal(changed[:, :t], frames.latent[:, :t])
    assert not torch.allclose(changed[:, t], frames.latent[:, t])
    stream = StreamingAnimator(animator, torch.zeros(1))
    assert stream.lookahead_frames == ahead
