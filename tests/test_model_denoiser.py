"""Online denoiser: KV cache == full windowed forward, the window, zero-init emotion, offline."""

import torch

from app.model.config import tiny_config
from app.model.denoiser import Conditions, Denoiser, KVCache, Tokens, keep_clean

B, T = 2, 16


def make(seed: int = 0, **overrides) -> Denoiser:
    torch.manual_seed(seed)
    return Denoiser(tiny_config(**overrides)).eval()


def inputs(model: Denoiser, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    c = model.config
    clean = torch.randn(B, T, c.latent_size, generator=g)
    noisy = torch.randn(B, T, c.latent_size, generator=g)
    level = torch.rand(B, T, generator=g)
    audio = torch.randn(B, T, c.audio_channels, generator=g)
    cond = Conditions(torch.randn(B, T, 2, generator=g) * 0.2, torch.ones(B, T),
                      torch.randint(0, 8, (B, T), generator=g), torch.rand(B, T, generator=g))
    return clean, noisy, level, audio, cond


def frame_tokens(model, clean, noisy, level, audio, cond, t) -> Tokens:
    """[clean t-1 (commit), noisy t] as the animator builds them."""
    pick = lambda x, f: x[:, f:f + 1]  # noqa: E731
    absent = Conditions.absent(B, 1, noisy)
    frame_cond = cond.map(lambda x: pick(x, t))
    if t == 0:
        return Tokens(pick(noisy, 0), pick(audio, 0), pick(level, 0), frame_cond,
                      torch.tensor([0]), torch.tensor([False]))
    return Tokens(torch.cat([pick(clean, t - 1), pick(noisy, t)], 1),
                  torch.cat([pick(audio, t - 1), pick(audio, t)], 1),
                  torch.cat([pick(level, t), pick(level, t)], 1), absent.cat(frame_cond),
                  torch.tensor([t - 1, t]), torch.tensor([True, False]))


def test_cached_steps_match_the_full_windowed_forward():
    model = make()
    clean, noisy, level, audio, cond = inputs(model)
    full = model.forward_sequence(noisy, level, audio, cond, clean=clean)
    cache, steps = KVCache.empty(model.config, B, noisy), []
    for t in range(T):
        tokens = frame_tokens(model, clean, noisy, level, audio, cond, t)
        v, keys, values = model(tokens, cache)
        cache = cache.extend(*keep_clean(tokens, keys, values), model.config.window_frames)
        assert cache.length <= model.config.window_frames
        steps.append(v[:, -1:])
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5, rtol=0)


def perturb_frame(clean, audio, frame):
    clean, audio = clean.clone(), audio.clone()
    clean[:, frame] += 3.0
    audio[:, frame] += 3.0
    return clean, audio


def assert_reach(model, reach: int, t: int) -> None:
    """Frame t's output changes when frame t - reach changes, and not for t - reach - 1."""
    clean, noisy, level, audio, cond = inputs(model)
    base = model.forward_sequence(noisy, level, audio, cond, clean=clean)[:, t]
    for frame, visible in ((t - reach - 1, False), (t - reach, True)):
        c2, a2 = perturb_frame(clean, audio, frame)
        out = model.forward_sequence(noisy, level, a2, cond, clean=c2)[:, t]
        assert torch.equal(out, base) != visible


def test_one_layer_sees_exactly_the_window():
    model = make(n_layers=1)
    assert_reach(model, model.config.window_frames, t=12)


def test_stacked_layers_reach_back_layers_times_window():
    """Clean tokens attend over their own window, so L layers give L * w frames of context
    while the cache still holds only w entries per layer (as in sliding-window attention)."""
    assert_reach(make(n_layers=2, window_frames=4), reach=2 * 4, t=14)


def test_no_frame_sees_another_frames_noise_or_the_future():
    model = make()
    clean, noisy, level, audio, cond = inputs(model)
    t = 7
    base = model.forward_sequence(noisy, level, audio, cond, clean=clean)
    noisy2, clean2, audio2 = noisy.clone(), clean.clone(), audio.clone()
    noisy2[:, :t] += 1.0  # other frames' noisy tokens
    noisy2[:, t + 1:] += 1.0
    clean2[:, t:] += 1.0  # the current and future clean latents
    audio2[:, t + 1:] += 1.0
    out = model.forward_sequence(noisy2, level, audio2, cond, clean=clean2)
    assert torch.equal(out[:, t], base[:, t])


def test_fresh_model_ignores_emotion_but_not_gaze():
    model = make()
    clean, noisy, level, audio, cond = inputs(model)
    base = model.forward_sequence(noisy, level, audio, cond, clean=clean)
    other = Conditions(cond.gaze, cond.gaze_present, (cond.emotion + 3) % 8, 1 - cond.intensity)
    assert torch.equal(model.forward_sequence(noisy, level, audio, other, clean=clean), base)
    no_gaze = Conditions(cond.gaze, torch.zeros_like(cond.gaze_present), cond.emotion,
                         cond.intensity)
    assert not torch.allclose(model.forward_sequence(noisy, level, audio, no_gaze, clean=clean), base)


def test_trained_emotion_layer_changes_the_prediction():
    model = make()
    torch.nn.init.normal_(model.embed.emotion.weight)
    clean, noisy, level, audio, cond = inputs(model)
    base = model.forward_sequence(noisy, level, audio, cond, clean=clean)
    other = Conditions(cond.gaze, cond.gaze_present, (cond.emotion + 3) % 8, cond.intensity)
    assert not torch.allclose(model.forward_sequence(noisy, level, audio, other, clean=clean), base)


def test_offline_baseline_is_bidirectional_over_the_whole_clip():
    model = make(causal=False)
    _, noisy, level, audio, cond = inputs(model)
    base = model.forward_sequence(noisy, level, audio, cond)
    future = audio.clone()
    future[:, -1] += 1.0  # much further than w ahead of frame 0
    assert not torch.allclose(model.forward_sequence(noisy, level, future, cond)[:, 0], base[:, 0])


def test_the_past_level_enters_through_the_clean_tokens_only():
    """Zero-initialised, the past-level layer changes nothing; trained, the level of the clean
    past changes every frame that has a past, and never frame 0, which has none."""
    model = make(past_conditioning=True)
    clean, noisy, level, audio, cond = inputs(model)

    def run(past_level: float):
        return model.forward_sequence(noisy, level, audio, cond, clean,
                                      torch.full_like(level, past_level))

    with torch.no_grad():
        assert torch.equal(run(0.0), run(0.8))
        torch.nn.init.normal_(model.embed.past_level.weight, std=0.5)
        exact, noised = run(0.0), run(0.8)
    assert torch.equal(exact[:, 0], noised[:, 0])
    assert not torch.allclose(exact[:, 1:], noised[:, 1:], atol=1e-4)
    assert make().embed.past_level is None  # older checkpoints have no such layer
