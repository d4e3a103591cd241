"""Diffusion math as pure functions: schedule, v-prediction, DDIM sampler, sequence losses,
and the one-step student's distillation losses. The network never knows which sampler
calls it; a sampler sees only a function `v_fn(z, t) -> v`.

Schedule (cosine, variance preserving; Nichol & Dhariwal 2021, continuous time):
    alpha(t) = cos(pi t / 2),  sigma(t) = sin(pi t / 2),  t in [0, 1]
    z_t = alpha x0 + sigma eps,  alpha^2 + sigma^2 = 1
so t = 0 is data and t = 1 is pure noise (alpha = 0). Parameterisation: v-prediction
(Salimans & Ho 2022), v = alpha eps - sigma x0, which stays well defined at t = 1 where
x0 = -v: exactly what the one-step student evaluates.

Distillation (the paper's recipe): the student maps noise to a latent in one evaluation and
is trained on (a) regression onto the teacher's K-step DDIM output from the same noise and
same clean past, plus (b) a distribution-matching term in the spirit of DMD (Yin et al.
2024): re-noise the student's output, and move it along the difference between a "fake"
denoiser fitted to student samples and the teacher ("real") denoiser.
"""

import math

import torch
from torch import Tensor


def alpha_sigma(t: Tensor) -> tuple[Tensor, Tensor]:
    angle = t * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)  # alpha = cos(pi t / 2), sigma = sin(pi t / 2)


def _bcast(t: Tensor, x: Tensor) -> Tensor:
    """t shaped like x's leading dims (or a scalar) -> broadcastable over x's last dim."""
    return t[..., None] if t.dim() and t.dim() == x.dim() - 1 else t


def diffuse(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_bcast(t, x0))
    return alpha * x0 + sigma * noise  # z_t = alpha x0 + sigma eps


def v_target(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_bcast(t, x0))
    return alpha * noise - sigma * x0  # v = alpha eps - sigma x0


def x0_from_v(z: Tensor, v: Tensor, t: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_bcast(t, z))
    return alpha * z - sigma * v  # x0 = alpha z - sigma v


def eps_from_v(z: Tensor, v: Tensor, t: Tensor) -> Tensor:
    alpha, sigma = alpha_sigma(_bcast(t, z))
    return sigma * z + alpha * v  # eps = sigma z + alpha v


def sample_training_times(shape: tuple[int, ...], generator=None, device=None) -> Tensor:
    """t ~ U(0, 1], one per noisy token (frames of a clip are noised independently)."""
    return 1.0 - torch.rand(shape, generator=generator, device=device)


def diffusion_loss(v_pred: Tensor, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """The simple loss on v: E ||v_hat - v||^2 (= (1 + SNR) weighted x0 error)."""
    return (v_pred - v_target(x0, noise, t)).square().mean()


def sampling_times(steps: int, device=None) -> Tensor:
    """K + 1 times from 1 (noise) to 0 (data), uniform in t (= uniform in angle)."""
    return torch.linspace(1.0, 0.0, steps + 1, device=device)


def ddim_step(z: Tensor, v: Tensor, t: Tensor, s: Tensor) -> Tensor:
    """Deterministic DDIM (eta = 0) from time t to s < t (Song et al. 2021, eq. 12)."""
    x0 = x0_from_v(z, v, t)
    eps = eps_from_v(z, v, t)
    alpha_s, sigma_s = alpha_sigma(s)
    return alpha_s * x0 + sigma_s * eps  # z_s = alpha_s x0_hat + sigma_s eps_hat


def guided(v_cond: Tensor, v_uncond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: v_u + s (v_c - v_u); s = 1 is the conditional model."""
    return v_uncond + scale * (v_cond - v_uncond)


def ddim_sample(v_fn, noise: Tensor, steps: int) -> Tensor:
    """K-step deterministic sampler: noise at t = 1 -> x0. With K = 1 this is exactly the
    one-step student's forward, x0 = -v(noise, 1)."""
    times = sampling_times(steps, noise.device)
    z = noise
    for t, s in zip(times[:-1], times[1:]):
        z = ddim_step(z, v_fn(z, t), t, s)
    return z


def student_x0(v_fn, noise: Tensor) -> Tensor:
    """The one-step student: x0 = alpha(1) z - sigma(1) v(z, 1), one network evaluation."""
    one = noise.new_ones(())
    return x0_from_v(noise, v_fn(noise, one), one)


def velocity_loss(pred: Tensor, target: Tensor) -> Tensor:
    """E ||(x_{t+1} - x_t)_pred - (x_{t+1} - x_t)_target||^2 over (B, T, D) sequences."""
    return (pred.diff(dim=1) - target.diff(dim=1)).square().mean()


def jitter_loss(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """Normalised jitter: mean ||second difference||^2 of the prediction over that of the
    target; only jitter beyond the target's own is penalised (relu(ratio - 1))."""
    ratio = pred.diff(n=2, dim=1).square().mean() / (target.diff(n=2, dim=1).square().mean() + eps)
    return torch.relu(ratio - 1.0)


def regression_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Match the teacher: E ||G(eps) - teacher_K(eps)||^2 from the same noise and past."""
    return (student - teacher.detach()).square().mean()


def dmd_loss(student: Tensor, real_x0: Tensor, fake_x0: Tensor) -> Tensor:
    """Distribution matching (DMD, eq. 7-8 in x0 form).

    `real_x0` / `fake_x0` are the teacher's and the fake denoiser's x0 predictions at
    z_t = diffuse(student.detach(), eps, t), computed without gradient by the caller. The
    gradient (fake - real), normalised by the mean |student - real|, moves student samples
    from where the student's distribution is dense towards where the data's is. The loss
    0.5 ||x - sg(x - grad)||^2 has exactly that gradient.
    """
    weight = (student - real_x0).abs().mean().clamp_min(1e-6).detach()
    grad = (fake_x0 - real_x0).detach() / weight
    return 0.5 * (student - (student - grad).detach()).square().mean()
