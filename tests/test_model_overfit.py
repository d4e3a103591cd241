"""The losses are wired right: a tiny model memorises one short (audio, latent) pair."""

import torch

from app.audio.features import LogMel
from app.model.audio_encoder import AudioEncoder
from app.model.config import tiny_config
from app.model.denoiser import Conditions, Denoiser
from app.model import diffusion as d


def test_tiny_model_overfits_one_clip():
    torch.manual_seed(0)
    config = tiny_config(d_model=64, n_heads=4)
    log_mel = LogMel(config.mel_mean, config.mel_std, config.mel_log_floor)
    encoder, denoiser = AudioEncoder(config), Denoiser(config)
    frames = 12
    audio = 0.3 * torch.randn(1, frames * 320)
    x0 = torch.randn(1, frames, config.latent_size)
    cond = Conditions.absent(1, frames, x0)
    mel = log_mel(audio)
    params = list(encoder.parameters()) + list(denoiser.parameters())
    optimiser = torch.optim.AdamW(params, lr=3e-3)
    eval_g = torch.Generator().manual_seed(1)
    eval_noise = torch.randn(16, frames, config.latent_size, generator=eval_g)
    eval_t = d.sample_training_times((16, frames), generator=eval_g)

    def loss_on(noise, t):
        features = encoder(mel)[0].expand(noise.shape[0], -1, -1)
        batch_cond = cond.map(lambda x: x.expand(noise.shape[0], *x.shape[1:]))
        clean = x0.expand_as(noise)
        v = denoiser.forward_sequence(d.diffuse(clean, noise, t), t, features, batch_cond, clean)
        x0_hat = d.x0_from_v(d.diffuse(clean, noise, t), v, t)
        return (d.diffusion_loss(v, clean, noise, t) + 0.1 * d.velocity_loss(x0_hat, clean)
                + 0.1 * d.jitter_loss(x0_hat, clean))

    with torch.no_grad():
        start = loss_on(eval_noise, eval_t).item()
    for _ in range(300):
        noise = torch.randn(16, frames, config.latent_size)
        loss = loss_on(noise, d.sample_training_times((16, frames)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        end = loss_on(eval_noise, eval_t).item()
    assert end < start / 10, (start, end)
