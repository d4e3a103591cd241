"""Distil the K-step causal teacher into the one-step student, and export the bundles.

The student starts as a copy of the teacher's EMA weights and learns to map noise to the
frame's latent in one evaluation (`diffusion.student_x0`), with the clean past given exactly
as in streaming outpainting (here: the data latents, every frame at once). Its loss is

    regression_loss(G(eps), teacher_K(eps))  +  dmd_weight * dmd_loss(G(eps), real, fake)
                                             +  jitter_weight * jitter_loss(G(eps), data)
                                             +  contact_weight * lip_contact(G(eps), data)
                                             +  opening_weight * lip_opening(G(eps), data)

where teacher_K is the teacher's deterministic K-step DDIM output from the same noise, same
audio, same conditions and same past; `real` and `fake` are the teacher's and a "fake"
denoiser's x0 predictions of the re-noised student sample. The fake denoiser starts as the
teacher too and is trained alongside, with the plain diffusion loss on student samples, so it
tracks the student's distribution (DMD, Yin et al. 2024). The student is used without
classifier-free guidance; the teacher it matches applies the config's guidance scale. The
contact term (`lip_loss.LipVertexLoss.contact`) holds the student to the data's closed lips
where the teacher's sample leaves them parted; the opening term keeps it from shutting them
where the data's are apart. With `distill_mel_masks`, the student hears its window's log-mel
with a few frequency bands hidden while the teacher it matches hears them all (SpecAugment's
frequency masking): matching the teacher then needs cues spread over the spectrum.

`export` writes the shipping bundle (student + encoder + codec + config) as one safetensors
file, and the teacher and offline baseline bundles beside it for evaluation.
"""

import copy
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn

from app.audio.contract import FRAME_RATE_HZ, MEL_BINS
from app.checkpoints import (
    OFFLINE_FILE,
    STUDENT_FILE,
    TEACHER_FILE,
    load_checkpoint,
    load_parts,
    save_bundle,
    save_checkpoint,
)
from app.data.teacher import default_geometry
from app.errors import LivefaceError
from app.model import diffusion as d
from app.model.config import ModelConfig
from app.model.denoiser import Conditions
from app.training.data import load_batch
from app.training.lip_loss import LipVertexLoss
from app.training.train import (
    DiffusionNet,
    Past,
    Run,
    Runtime,
    StageLog,
    check_resume,
    data_latents,
    gather_generators,
    generator_for,
    learning_rate,
    load_codec,
    load_denoiser,
    make_optimiser,
    optimiser_step,
    sampling_settings,
    to_device,
    training_conditions,
    training_past,
    window_dataset,
    wrap_ddp,
)

FRAME_MS = 1000 // FRAME_RATE_HZ


def teacher_velocity(teacher: DiffusionNet, features: Tensor, cond: Conditions, past: Past,
                     guidance: float):
    """v_fn(z, t) of the frozen teacher with its audio features computed once."""

    def v_fn(z: Tensor, t: Tensor) -> Tensor:
        level = t.expand(z.shape[:2])
        v = teacher.denoiser.forward_sequence(z, level, features, cond, past.latent, past.level)
        if guidance != 1.0:
            v_uncond = teacher.denoiser.forward_sequence(z, level, features, cond.dropped(),
                                                         past.latent, past.level)
            v = d.guided(v, v_uncond, guidance)
        return v

    return v_fn


def distill_losses(student: nn.Module, teacher: DiffusionNet, fake: DiffusionNet,
                   batch: dict[str, Tensor], x0: Tensor, past: Past, cond: Conditions,
                   teacher_steps: int, weights: tuple[float, float, float, float],
                   guidance: float,
                   generator: torch.Generator, lip_loss: LipVertexLoss | None = None,
                   mel_mask: Tensor | None = None) -> dict[str, Tensor]:
    """The student's losses; also returns its detached sample for the fake denoiser.
    `past` is the (corrupted) context all three networks condition on; `weights` are the
    DMD, jitter, contact and opening weights (the last two need `lip_loss`); `mel_mask`
    hides frequency bands from the student alone (see `band_masks`)."""
    device = x0.device
    noise = torch.randn(x0.shape, generator=generator).to(device)
    with torch.no_grad():
        features = teacher.features(batch["audio"], x0.shape[1])
        real_v = teacher_velocity(teacher, features, cond, past, guidance)
        target = d.ddim_sample(real_v, noise, teacher_steps)
    sample = d.student_x0(lambda z, t: student(batch["audio"], z, t.expand(z.shape[:2]), cond,
                                               past, mel_mask), noise)
    regression = d.regression_loss(sample, target)
    t = (0.02 + 0.96 * torch.rand(x0.shape[:2], generator=generator)).to(device)
    z_t = d.diffuse(sample.detach(), torch.randn(x0.shape, generator=generator).to(device), t)
    with torch.no_grad():
        real_x0 = d.x0_from_v(z_t, real_v(z_t, t), t)
        fake_x0 = d.x0_from_v(z_t, fake.denoiser.forward_sequence(
            z_t, t, fake.features(batch["audio"], x0.shape[1]), cond, past.latent, past.level),
            t)
    dmd = d.dmd_loss(sample, real_x0, fake_x0)
    jitter = d.jitter_loss(sample, x0)
    dmd_weight, jitter_weight, contact_weight, opening_weight = weights
    losses = {"loss": regression + dmd_weight * dmd + jitter_weight * jitter,
              "regression": regression, "dmd": dmd, "jitter": jitter}
    if lip_loss is not None:
        losses.update(lip_loss.gap_terms(lip_loss.decode(sample), batch["rig"]))
        losses["loss"] = (losses["loss"] + contact_weight * losses["contact"]
                          + opening_weight * losses["opening"])
    return {**losses, "sample": sample.detach()}


def band_masks(batch: int, masks: int, max_bins: int, generator: torch.Generator,
               bins: int = MEL_BINS) -> Tensor:
    """(batch, bins) bool: per window, `masks` bands of 0..max_bins bins at random places
    (SpecAugment's frequency masking, Park et al. 2019). A student that must match its
    teacher with parts of the spectrum hidden learns cues spread over the spectrum rather
    than the narrow ones a few synthetic voices share."""
    hidden = torch.zeros(batch, bins, dtype=torch.bool)
    index = torch.arange(bins)
    for _ in range(masks):
        width = torch.randint(0, max_bins + 1, (batch, 1), generator=generator)
        start = (torch.rand(batch, 1, generator=generator) * (bins - width + 1)).long()
        hidden |= (index >= start) & (index < start + width)
    return hidden


def fake_loss(fake: nn.Module, batch: dict[str, Tensor], sample: Tensor, past: Past,
              cond: Conditions, generator: torch.Generator) -> Tensor:
    """The fake denoiser learns the student's samples with the plain diffusion loss."""
    noise = torch.randn(sample.shape, generator=generator).to(sample.device)
    t = d.sample_training_times(sample.shape[:2], generator=generator).to(sample.device)
    v = fake(batch["audio"], d.diffuse(sample, noise, t), t, cond, past)
    return d.diffusion_loss(v, sample, noise, t)


def distill(run: Run, runtime: Runtime, steps: int | None = None, resume: bool = True,
            stop_at: int | None = None, lookahead_frames: int | None = None,
            init_from: Path | None = None) -> DiffusionNet:
    """Train the one-step student (resumes from RUN/distill.safetensors when it exists);
    returns this rank's student.

    `lookahead_frames`: the student samples frame t having heard the audio through frame
    t + lookahead, for files and live use that can wait that long (default: the teacher's
    own, 0 for a causal teacher; never less than the teacher's, whose frames it matches).
    `init_from`: a student bundle to start from instead of the teacher's weights (e.g. the
    shipped one, to fine-tune it)."""
    preset, schedule = run.preset, run.preset.distill
    codec, _ = load_codec(run, runtime.device)
    teacher, teacher_config = load_denoiser(run, "teacher", runtime.device)
    teacher_steps = preset.distill_teacher_steps or teacher_config.sampling_steps
    saved = check_resume(run.path("distill"), resume)
    if saved is not None:
        lookahead_frames = int(saved.get("lookahead_frames", 0))
    elif lookahead_frames is None:
        lookahead_frames = teacher_config.lookahead_frames
    if lookahead_frames < teacher_config.lookahead_frames:
        raise LivefaceError(f"the teacher of {run.dir} hears "
                            f"{teacher_config.lookahead_frames * FRAME_MS} ms ahead; its "
                            f"student cannot hear less (asked: "
                            f"{lookahead_frames * FRAME_MS} ms).")
    config = replace(teacher_config, lookahead_frames=lookahead_frames)
    total = steps or (saved or {}).get("total") or schedule.steps
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    student.lookahead_frames = lookahead_frames
    if init_from is not None and saved is None:
        parts = load_parts(init_from)
        if not parts.config.causal or parts.config.sampling_steps != 1:
            raise LivefaceError(f"{init_from} is not a one-step student bundle.")
        student.encoder.load_state_dict(parts.encoder.state_dict())
        student.denoiser.load_state_dict(parts.denoiser.state_dict())
    fake = copy.deepcopy(teacher).train().requires_grad_(True)
    optimiser, fake_optimiser = make_optimiser(student, schedule), make_optimiser(fake, schedule)
    generator, start = generator_for(preset.seed + 1, runtime.rank), 0
    if saved is not None:
        student.load_state_dict(saved["student"])
        fake.load_state_dict(saved["fake"])
        optimiser.load_state_dict(saved["optim"])
        fake_optimiser.load_state_dict(saved["fake_optim"])
        generator.set_state(saved["generators"][runtime.rank])
        start = saved["step"]
    student_net, fake_net = wrap_ddp(student, runtime), wrap_ddp(fake, runtime)
    dataset = window_dataset(run, lookahead_frames=lookahead_frames)
    lip_loss = (LipVertexLoss(codec, default_geometry(), config.latent_std).to(runtime.device)
                if preset.distill_contact_weight or preset.distill_opening_weight else None)

    def checkpoint(step: int) -> None:
        states = gather_generators(generator, runtime)
        if runtime.main:
            state = {"student": student.state_dict(), "fake": fake.state_dict(),
                     "optim": optimiser.state_dict(), "fake_optim": fake_optimiser.state_dict(),
                     "step": step, "total": total, "generators": states, "done": step == total,
                     "teacher_steps": teacher_steps, "lookahead_frames": lookahead_frames}
            save_checkpoint(run.path("distill"), state, config, "distill")

    with StageLog(run, "distill", start, total, runtime, preset.log_every) as log:
        for step in range(start, total):
            batch = to_device(load_batch(dataset, schedule.batch, step, runtime.rank,
                                         runtime.world), runtime.device)
            cond = training_conditions(batch, config, generator)
            x0 = data_latents(codec, batch["rig"], config)
            # with own_past: the student's own one-step frames, as it streams on them
            past = training_past(student_net, batch["audio"], x0, cond, preset, config,
                                 generator)
            mel_mask = (band_masks(x0.shape[0], preset.distill_mel_masks,
                                   preset.mel_mask_bins, generator).to(runtime.device)
                        if preset.distill_mel_masks else None)
            losses = distill_losses(student_net, teacher, fake, batch, x0, past, cond,
                                    teacher_steps, (preset.dmd_weight,
                                                    preset.distill_jitter_weight,
                                                    preset.distill_contact_weight,
                                                    preset.distill_opening_weight),
                                    config.guidance_scale, generator, lip_loss, mel_mask)
            lr = learning_rate(schedule, step, total)
            optimiser_step(optimiser, student, losses["loss"], lr, schedule.grad_clip)
            fake_value = fake_loss(fake_net, batch, losses.pop("sample"), past, cond, generator)
            optimiser_step(fake_optimiser, fake, fake_value, lr, schedule.grad_clip)
            log.step(step + 1, {**{k: v.item() for k, v in losses.items()},
                                "fake": fake_value.item(),
                                "contact_weight": preset.distill_contact_weight}, lr)
            if (step + 1) % preset.checkpoint_every == 0 or step + 1 in (total, stop_at):
                checkpoint(step + 1)
            if step + 1 == stop_at:
                break
    return student


def load_student(run: Run, device: torch.device) -> tuple[DiffusionNet, ModelConfig]:
    state, config = load_checkpoint(run.path("distill"), kind="distill")
    if not state["done"]:
        raise LivefaceError(f"distillation in {run.dir} stopped at step {state['step']} of "
                            f"{state['total']}; finish it with `liveface distill --run {run.dir}`.")
    student = DiffusionNet(config, run.preset.context_frames)
    student.load_state_dict(state["student"])
    return student.eval(), config


def export(run: Run, out_dir: Path) -> list[Path]:
    """The student bundle (what ships), plus teacher and offline bundles when trained,
    each with the preset's sampling settings."""
    device = torch.device("cpu")
    codec, _ = load_codec(run, device)
    student, config = load_student(run, device)
    # the student is evaluated once per frame: K = 1, and no guidance
    student_config = replace(sampling_settings(config, run.preset.model), sampling_steps=1,
                             guidance_scale=1.0)
    written = [out_dir / STUDENT_FILE]
    save_bundle(written[0], student.encoder, student.denoiser, codec, student_config)
    for stage, name in (("teacher", TEACHER_FILE), ("offline", OFFLINE_FILE)):
        if run.path(stage).is_file():
            model, stage_config = load_denoiser(run, stage, device)
            save_bundle(out_dir / name, model.encoder, model.denoiser, codec,
                        sampling_settings(stage_config, run.preset.model))
            written.append(out_dir / name)
    return written
