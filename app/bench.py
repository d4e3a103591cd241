"""The model benchmark behind `liveface bench`: how long one animation frame costs.

Figures, never assertions. Three ways to make frame t:
- student: one streaming step (features, encoder, one denoiser evaluation with the KV
  cache, codec decoder) — what the live app runs every 20 ms;
- teacher: the same streaming step with K deterministic sampling steps (timed in turns with
  the student's steps, so the drifting speed of a shared machine leaves their ratio alone);
- offline baseline: a bidirectional model cannot stream, so each new frame costs a K-step
  pass over its whole context (`OFFLINE_CONTEXT_S` of audio), as FaceFormer-style
  systems pay when forced to run live. The amortised per-frame cost of one pass over a
  whole clip is reported beside it.
Timing does not depend on the weights' values, so untrained weights give the same figures.
"""

import os
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
from app.machine import cpu_description
from app.model.animator import Animator, generate_offline
from app.model.config import ModelConfig
from app.model.denoiser import Conditions, Denoiser

OFFLINE_CONTEXT_S = 4.0


def _percentiles_ms(times_s: list[float]) -> dict[str, float]:
    ms = np.asarray(times_s) * 1000.0
    return {name: round(float(np.percentile(ms, q)), 4) for name, q in (("p50", 50), ("p99", 99))}


def _time_calls(call: Callable[[], None], repeats: int, warmup: int,
                sync: Callable[[], None] = lambda: None) -> list[float]:
    for _ in range(warmup):
        call()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return times


def _time_in_turns(first: Callable[[], None], first_repeats: int, second: Callable[[], None],
                   second_repeats: int, warmup: tuple[int, int],
                   sync: Callable[[], None] = lambda: None) -> tuple[list[float], list[float]]:
    """Times of two calls taken in turns (a run of `first`, then one `second`, ...), so a
    machine whose speed drifts during the run slows both alike and their ratio holds."""
    _time_calls(first, 0, warmup[0], sync)
    _time_calls(second, 0, warmup[1], sync)
    per_turn = max(1, first_repeats // max(1, second_repeats))
    first_times: list[float] = []
    second_times: list[float] = []
    while len(first_times) < first_repeats or len(second_times) < second_repeats:
        if len(first_times) < first_repeats:
            first_times += _time_calls(first, min(per_turn, first_repeats - len(first_times)),
                                       0, sync)
        if len(second_times) < second_repeats:
            second_times += _time_calls(second, 1, 0, sync)
    return first_times, second_times


def _streaming_step(animator: Animator, steps: int, device: torch.device, seed: int = 0
                    ) -> Callable[[], None]:
    """One streaming step per call on speech-like noise, state carried from call to call."""
    like = torch.zeros(1, device=device)
    state = [animator.initial_state(1, like)]
    generator = torch.Generator(device=device).manual_seed(seed)
    cond = Conditions.absent(1, 1, like)
    latent = animator.config.latent_size

    def one_step():
        block = 0.1 * torch.randn(1, SAMPLES_PER_FRAME, generator=generator, device=device)
        noise = torch.randn(1, 1, latent, generator=generator, device=device)
        _, state[0] = animator.step(state[0], block, cond, noise, steps)

    return one_step


def _sync(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _student_and_teacher_times(animator: Animator, teacher_steps: int, student_steps: int,
                               teacher_frames: int, device: torch.device
                               ) -> tuple[list[float], list[float]]:
    """Student steps and teacher frames timed in turns, each stream with its own state."""
    return _time_in_turns(_streaming_step(animator, 1, device), student_steps,
                          _streaming_step(animator, teacher_steps, device), teacher_frames,
                          (100, 5), _sync(device))


def _offline_pass_times(animator: Animator, steps: int, repeats: int,
                        seconds: float) -> list[float]:
    config = replace(animator.config, causal=False)
    denoiser = Denoiser(config).eval()
    frames = int(seconds * SAMPLE_RATE_HZ) // SAMPLES_PER_FRAME
    audio = 0.1 * torch.randn(1, frames * SAMPLES_PER_FRAME)
    cond = Conditions.absent(1, frames, audio)
    noise = torch.randn(1, frames, config.latent_size)

    def one_pass():
        with torch.no_grad():
            generate_offline(animator.log_mel, animator.encoder, denoiser, audio, cond, noise,
                             steps)

    return _time_calls(one_pass, repeats, warmup=1)


def bench_model(animator: Animator, student_steps: int = 1000, teacher_frames: int = 50,
                offline_passes: int = 5, teacher_steps: int | None = None) -> dict:
    """The JSON-ready figures of `liveface bench`; the teacher and the offline baseline
    sample with `teacher_steps` (default: the animator config's K)."""
    animator = animator.eval()
    config: ModelConfig = animator.config
    if teacher_steps is not None:
        config = replace(config, sampling_steps=teacher_steps)
    cpu = torch.device("cpu")
    all_threads = os.cpu_count() or 1
    torch.set_num_threads(1)
    student, teacher = _student_and_teacher_times(animator, config.sampling_steps,
                                                  student_steps, teacher_frames, cpu)
    offline = _offline_pass_times(animator, config.sampling_steps, offline_passes,
                                  OFFLINE_CONTEXT_S)
    torch.set_num_threads(all_threads)
    student_all = _time_calls(_streaming_step(animator, 1, cpu), student_steps, 100)
    figures = {
        "device": cpu_description(),
        "threads": 1,
        "student_step_ms": _percentiles_ms(student),
        "teacher_frame_ms": _percentiles_ms(teacher),
        "offline_frame_ms": _percentiles_ms(offline),
        "teacher_over_student": round(float(np.median(teacher) / np.median(student)), 2),
        "offline_over_student": round(float(np.median(offline) / np.median(student)), 2),
        "student_step_ms_all_threads": {"threads": all_threads, **_percentiles_ms(student_all)},
        "offline_context_s": OFFLINE_CONTEXT_S,
        "offline_amortised_frame_ms": round(
            1000.0 * float(np.median(offline)) * SAMPLES_PER_FRAME
            / (OFFLINE_CONTEXT_S * SAMPLE_RATE_HZ), 4),
        "teacher_steps": config.sampling_steps,
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        figures["cuda"] = _cuda_figures(animator, student_steps, teacher_frames)
    return figures


def _cuda_figures(animator: Animator, student_steps: int, teacher_frames: int) -> dict:
    gpu = torch.device("cuda")
    animator = animator.to(gpu)
    student, teacher = _student_and_teacher_times(animator, animator.config.sampling_steps,
                                                  student_steps, teacher_frames, gpu)
    animator.to("cpu")
    return {"device": torch.cuda.get_device_name(gpu), "student_step_ms": _percentiles_ms(student),
            "teacher_frame_ms": _percentiles_ms(teacher)}
