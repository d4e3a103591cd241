"""Diffusion math: schedule endpoints, parameterisation identities, an analytic sampler check."""

import math

import torch

from app.model import diffusion as d


def test_schedule_endpoints_and_variance_preservation():
    t = torch.linspace(0, 1, 11)
    alpha, sigma = d.alpha_sigma(t)
    assert torch.allclose(alpha.square() + sigma.square(), torch.ones(11))
    assert alpha[0] == 1 and sigma[0] == 0
    assert abs(alpha[-1]) < 1e-6 and sigma[-1] == 1
    assert (alpha.diff() < 0).all()
    times = d.sampling_times(4)
    assert times.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]


def test_v_parameterisation_inverts():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 5, 8, generator=g), torch.randn(3, 5, 8, generator=g)
    t = torch.rand(3, 5, generator=g)
    z, v = d.diffuse(x0, eps, t), d.v_target(x0, eps, t)
    assert torch.allclose(d.x0_from_v(z, v, t), x0, atol=1e-5)
    assert torch.allclose(d.eps_from_v(z, v, t), eps, atol=1e-5)


def gaussian_v(mean: float, std: float):
    """The exact v-predictor for data ~ N(mean, std^2): E[x0 | z_t] is linear in z_t."""
    def v_fn(z, t):
        alpha, sigma = d.alpha_sigma(t)
        x0 = mean + alpha * std**2 * (z - alpha * mean) / (alpha**2 * std**2 + sigma**2)
        return (alpha * z - x0) / sigma  # v = alpha eps - sigma x0 with eps = (z - alpha x0) / sigma
    return v_fn


def test_sampler_with_the_exact_denoiser_recovers_a_gaussian():
    noise = torch.randn(20000, 4, generator=torch.Generator().manual_seed(0))
    samples = d.ddim_sample(gaussian_v(1.5, 0.4), noise, steps=128)
    assert abs(samples.mean().item() - 1.5) < 0.01
    assert abs(samples.std().item() - 0.4) / 0.4 < 0.02
    # DDIM is first order: the spread's error shrinks about 4x when K grows 4x
    errors = [0.4 - d.ddim_sample(gaussian_v(1.5, 0.4), noise, k).std().item() for k in (32, 128)]
    assert 3.0 < errors[0] / errors[1] < 5.0
    # one step from pure noise gives E[x0] (the mean): why a student must be distilled
    one = d.ddim_sample(gaussian_v(1.5, 0.4), noise, steps=1)
    assert torch.allclose(one, torch.full_like(one, 1.5), atol=1e-4)
    assert torch.allclose(d.student_x0(gaussian_v(1.5, 0.4), noise), one)


def test_guidance_scale_one_is_the_conditional_model():
    g = torch.Generator().manual_seed(0)
    c, u = torch.randn(4, generator=g), torch.randn(4, generator=g)
    assert torch.allclose(d.guided(c, u, 1.0), c, atol=1e-6)  # u + (c - u) rounds
    assert torch.allclose(d.guided(c, u, 3.0), u + 3 * (c - u))


def test_sequence_losses():
    target = torch.cumsum(torch.randn(2, 30, 4), dim=1)
    assert d.velocity_loss(target, target) == 0
    assert d.velocity_loss(target + 1.0, target) < 1e-10  # an offset has no velocity error
    assert d.jitter_loss(target, target) == 0
    assert d.jitter_loss(target * 0.5, target) == 0  # smoother than the target: no penalty
    assert math.isclose(d.jitter_loss(target * 2.0, target).item(), 3.0, rel_tol=1e-4)


def test_diffusion_loss_is_zero_for_the_true_v():
    x0, eps, t = torch.randn(2, 6, 3), torch.randn(2, 6, 3), torch.rand(2, 6)
    assert d.diffusion_loss(d.v_target(x0, eps, t), x0, eps, t) == 0


def test_distillation_losses_push_the_right_way():
    student = torch.zeros(5, 3, requires_grad=True)
    teacher = torch.ones(5, 3)
    d.regression_loss(student, teacher).backward()
    assert (student.grad < 0).all()  # gradient descent moves towards the teacher
    student.grad = None
    real, fake = torch.full((5, 3), -1.0), torch.full((5, 3), 1.0)
    d.dmd_loss(student, real, fake).backward()
    # DMD's gradient is (fake - real) / mean|student - real| (here 2 / 1), averaged
    assert torch.allclose(student.grad, torch.full((5, 3), 2.0 / 15))
