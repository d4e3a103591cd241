"""Training stages: codec, then the causal teacher and the offline baseline (distillation and
export live in `app.training.distill`).

Every stage is a flat loop: draw this rank's batch of step s, compute the losses, step the
optimiser (warm-up then cosine learning rate, gradient clipping), update the EMA, log a JSON
line every `log_every` steps and write a resumable checkpoint every `checkpoint_every`
steps. A stage's checkpoint is RUN/<stage>.safetensors (see `app.checkpoints`); it holds
the weights, the EMA, the optimiser, the step and the noise generator, so a resumed run
continues exactly where the last one stopped.

Under `torchrun` the denoiser stages run one process per core or GPU with
DistributedDataParallel (gloo on CPU, nccl on CUDA); each rank draws its own share of every
global batch (`app.training.data.batch_slots`), and only rank 0 logs and writes files.

RUN layout:
    run.json                   preset name, data folder, seed (written by the first stage)
    codec.safetensors          the codec; when done its config carries latent_std and mel stats
    teacher.safetensors        causal denoiser + audio encoder, EMA, optimiser, step
    offline.safetensors        the offline baseline, the same way
    distill.safetensors        the one-step student and the DMD "fake" denoiser
    log.jsonl                  one JSON line per `log_every` steps of every stage
"""

import copy
import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from torch import Tensor, nn

from app.audio.features import LogMel
from app.avatar.rig import NUM_BLENDSHAPES, RIG_NAMES
from app.checkpoints import load_checkpoint, save_checkpoint
from app.data.teacher import default_geometry
from app.errors import LivefaceError
from app.model import diffusion as d
from app.model.audio_encoder import AudioEncoder
from app.model.codec import ExpressionCodec
from app.model.config import ModelConfig
from app.model.denoiser import Conditions, Denoiser
from app.training.data import (
    WindowDataset,
    fit_mel_stats,
    load_batch,
    load_split,
    texture_targets,
)
from app.training.lip_loss import LipVertexLoss
from app.training.presets import Preset, StageSchedule, get_preset

STAGES = ("codec", "teacher", "offline")
LIP_NAMES = tuple(n for n in RIG_NAMES[:NUM_BLENDSHAPES] if n.startswith(("jaw", "mouth")))


# --- processes and devices -------------------------------------------------------------

@dataclass(frozen=True)
class Runtime:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def start_runtime(device: str = "cpu") -> Runtime:
    """One process, or one of `torchrun`'s (WORLD_SIZE > 1): join its process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        if not torch.cuda.is_available():
            raise LivefaceError("--device cuda was asked for but torch sees no CUDA device.")
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Runtime(rank, world, torch.device(device))


def stop_runtime() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(runtime: Runtime) -> None:
    if runtime.world > 1:
        dist.barrier()


# --- the run folder --------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    dir: Path
    preset: Preset
    data_dir: Path
    extra_data: tuple[Path, ...] = ()  # more data sets whose train splits join the windows

    def path(self, stage: str) -> Path:
        return self.dir / f"{stage}.safetensors"


def open_run(run_dir: Path, data_dir: Path | None = None, preset: str | None = None,
             runtime: Runtime | None = None, extra_data: tuple[Path, ...] | None = None) -> Run:
    """A run folder: new (data and preset given) or existing (run.json read back);
    `extra_data` (e.g. recorded speech, `app.data.recorded`) replaces the run's list."""
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    if data_dir is None and "data" not in info:
        raise LivefaceError(f"{run_dir} is not a training run (no run.json); start one with "
                            "`liveface train --data DIR --run RUN`.")
    if info and preset is not None and preset != info["preset"]:
        raise LivefaceError(f"{run_dir} was started with preset {info['preset']!r}, not "
                            f"{preset!r}; use a new --run folder for another preset.")
    info = {"preset": preset or info.get("preset", "cpu"),
            "data": str(Path(data_dir).resolve()) if data_dir else info["data"],
            "extra_data": ([str(Path(p).resolve()) for p in extra_data] if extra_data is not None
                           else info.get("extra_data", []))}
    if runtime is None or runtime.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        # atomically: other ranks may be reading it at this moment
        partial = info_path.with_suffix(f".json.{os.getpid()}")
        partial.write_text(json.dumps(info, indent=1) + "\n")
        os.replace(partial, info_path)
    return Run(run_dir, get_preset(info["preset"]), Path(info["data"]),
               tuple(Path(p) for p in info["extra_data"]))


def check_resume(path: Path, resume: bool) -> dict | None:
    """The stage's saved state when resuming; an error when it exists and we were not asked."""
    if not path.is_file():
        return None
    if not resume:
        raise LivefaceError(f"{path} already exists; pass --resume to continue it, or use a "
                            "new --run folder.")
    return load_checkpoint(path)[0]


# --- logging ---------------------------------------------------------------------------

class StageLog:
    """A rich progress bar (loss, steps/s) and JSON lines in RUN/log.jsonl; rank 0 only."""

    def __init__(self, run: Run, stage: str, start: int, total: int, runtime: Runtime,
                 every: int):
        self.stage, self.total, self.every, self.main = stage, total, every, runtime.main
        self.path = run.dir / "log.jsonl"
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                                 TextColumn("{task.fields[rate]} steps/s"),
                                 TimeRemainingColumn(), disable=not self.main)
        self.task = self.progress.add_task(stage, total=total, completed=start, loss="-",
                                           rate="-")
        self.last_step, self.last_time, self.sums = start, time.perf_counter(), {}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def step(self, step: int, losses: dict[str, float], lr: float) -> None:
        """Record the losses of step `step` (1-based count of steps done)."""
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        if step % self.every and step != self.total:
            return
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        means = {k: v / max(step - self.last_step, 1) for k, v in self.sums.items()}
        self.progress.update(self.task, completed=step, loss=f"{means['loss']:.4f}",
                             rate=f"{rate:.2f}")
        if self.main:
            record = {"stage": self.stage, "step": step, "lr": lr, "steps_per_s": round(rate, 3),
                      "time": round(time.time(), 3), **{k: round(v, 6) for k, v in means.items()}}
            with open(self.path, "a") as log:
                log.write(json.dumps(record) + "\n")
        self.last_step, self.last_time, self.sums = step, now, {}


# --- optimisation pieces shared by every stage -----------------------------------------

def learning_rate(schedule: StageSchedule, step: int, total: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak at `total`."""
    if step < schedule.warmup_steps:
        return schedule.lr * (step + 1) / schedule.warmup_steps
    progress = (step - schedule.warmup_steps) / max(1, total - schedule.warmup_steps)
    return schedule.lr * (0.1 + 0.45 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def make_optimiser(module: nn.Module, schedule: StageSchedule) -> torch.optim.AdamW:
    return torch.optim.AdamW(module.parameters(), lr=schedule.lr, betas=(0.9, 0.99),
                             weight_decay=schedule.weight_decay)


def optimiser_step(optimiser, module: nn.Module, loss: Tensor, lr: float, clip: float) -> None:
    for group in optimiser.param_groups:
        group["lr"] = lr
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(module.parameters(), clip)
    optimiser.step()


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)


def wrap_ddp(module: nn.Module, runtime: Runtime) -> nn.Module:
    if runtime.world == 1:
        return module
    ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def generator_for(seed: int, rank: int) -> torch.Generator:
    """Noise levels, noise and dropout draws: CPU generator, so runs replay on any device."""
    return torch.Generator().manual_seed(seed * 1000 + rank)


# --- stage 1: the expression codec -----------------------------------------------------

def codec_loss(codec: ExpressionCodec, rig: Tensor, texture: Tensor, preset: Preset
               ) -> dict[str, Tensor]:
    """Rig error in unit range (lips weighted by `lip_weight`) plus texture-control error."""
    decoded = codec.decode(codec.encode(rig))
    span = codec.rig_max - codec.rig_min
    error = ((decoded.rig - rig) / span).square()
    lips = torch.tensor([n in LIP_NAMES for n in RIG_NAMES], device=rig.device)
    weights = torch.where(lips, preset.lip_weight, 1.0)
    rig_loss = (error * weights).mean()
    texture_loss = (torch.cat([decoded.wrinkle, decoded.flush], -1) - texture).square().mean()
    return {"loss": rig_loss + preset.texture_weight * texture_loss, "rig": rig_loss,
            "texture": texture_loss}


def train_codec(run: Run, runtime: Runtime, steps: int | None = None, resume: bool = False,
                stop_at: int | None = None) -> None:
    """Rank 0 fits the codec (small and fast); the others wait for the file."""
    if runtime.main:
        _train_codec(run, runtime, steps, resume, stop_at)
    barrier(runtime)


def _train_codec(run, runtime, steps, resume, stop_at):
    preset, schedule = run.preset, run.preset.codec
    path = run.path("codec")
    saved = check_resume(path, resume)
    total = steps or (saved or {}).get("total") or schedule.steps
    clips = load_split(run.data_dir, "train")
    rigs = torch.from_numpy(np.concatenate([c.rig for c in clips])).to(runtime.device)
    textures = torch.from_numpy(np.concatenate([texture_targets(c) for c in clips])
                                ).to(runtime.device)
    torch.manual_seed(preset.seed)
    codec = ExpressionCodec(preset.model).to(runtime.device)
    optimiser = make_optimiser(codec, schedule)
    generator, start = generator_for(preset.seed, 0), 0
    if saved is not None:
        codec.load_state_dict(saved["codec"])
        optimiser.load_state_dict(saved["optim"])
        generator.set_state(saved["generator"])
        start = saved["step"]
    done_steps = start
    with StageLog(run, "codec", start, total, runtime, preset.log_every) as log:
        for step in range(start, total):
            pick = torch.randint(rigs.shape[0], (schedule.batch,), generator=generator)
            pick = pick.to(runtime.device)
            losses = codec_loss(codec, rigs[pick], textures[pick], preset)
            lr = learning_rate(schedule, step, total)
            optimiser_step(optimiser, codec, losses["loss"], lr, schedule.grad_clip)
            log.step(step + 1, {k: v.item() for k, v in losses.items()}, lr)
            done_steps = step + 1
            if done_steps == stop_at:
                break
    done = done_steps >= total
    config = fitted_config(codec, rigs, clips, preset.model) if done else preset.model
    state = {"codec": codec.state_dict(), "optim": optimiser.state_dict(), "step": done_steps,
             "total": total, "generator": generator.get_state(), "done": done}
    save_checkpoint(path, state, config, "codec")


@torch.no_grad()
def fitted_config(codec: ExpressionCodec, rigs: Tensor, clips, config: ModelConfig
                  ) -> ModelConfig:
    """The model config with latent_std and the log-mel statistics of the training data."""
    latent_std = float(codec.encode(rigs).std())
    mel_mean, mel_std = fit_mel_stats(clips)
    return replace(config, latent_std=round(latent_std, 6), mel_mean=round(mel_mean, 6),
                   mel_std=round(mel_std, 6))


def sampling_settings(config: ModelConfig, preset_model: ModelConfig) -> ModelConfig:
    """The preset's sampling settings, which need no retraining: K, the temperature and
    the level the streaming past is presented at (for models trained to be told it)."""
    return replace(config, sampling_steps=preset_model.sampling_steps,
                   noise_scale=preset_model.noise_scale,
                   past_level=preset_model.past_level if config.past_conditioning else 0.0)


def load_codec(run: Run, device: torch.device) -> tuple[ExpressionCodec, ModelConfig]:
    state, config = load_checkpoint(run.path("codec"), kind="codec")
    if not state["done"]:
        raise LivefaceError(f"the codec of {run.dir} is not trained to the end; run "
                            f"`liveface train --run {run.dir} --stage codec --resume`.")
    codec = ExpressionCodec(config)
    codec.load_state_dict(state["codec"])
    return codec.to(device).eval().requires_grad_(False), config


# --- stages 2 and 3: the causal teacher and the offline baseline -----------------------

class DiffusionNet(nn.Module):
    """Audio encoder + denoiser as one module (what DDP wraps): audio in, v out."""

    def __init__(self, config: ModelConfig, context_frames: int):
        super().__init__()
        self.context_frames = context_frames
        self.lookahead_frames = config.lookahead_frames
        self.log_mel = LogMel(config.mel_mean, config.mel_std, config.mel_log_floor)
        self.encoder, self.denoiser = AudioEncoder(config), Denoiser(config)

    def features(self, audio: Tensor, frames: int, mel_mask: Tensor | None = None) -> Tensor:
        """(B, (context + W + extra) 320) samples -> (B, W, C), W = `frames`: the context
        frames warm up the encoder, and frame t's feature is the one of audio frame
        t + lookahead (the window's audio must reach that far: extra >= lookahead).
        `mel_mask` (B, 80), training only: True bins are hidden for the whole window (set to
        0, the training data's mean after standardisation)."""
        mel = self.log_mel(audio)
        if mel_mask is not None:
            mel = mel.masked_fill(mel_mask[:, None, :], 0.0)
        first = self.context_frames + self.lookahead_frames
        features = self.encoder(mel)[0][:, first:first + frames]
        if features.shape[1] != frames:
            raise ValueError(f"the audio covers {features.shape[1]} of {frames} frames "
                             f"(look-ahead {self.lookahead_frames})")
        return features

    def forward(self, audio: Tensor, noisy: Tensor, level: Tensor, cond: Conditions,
                past: "Past | None" = None, mel_mask: Tensor | None = None) -> Tensor:
        clean, clean_level = (past.latent, past.level) if past is not None else (None, None)
        features = self.features(audio, noisy.shape[1], mel_mask)
        return self.denoiser.forward_sequence(noisy, level, features, cond, clean, clean_level)


def training_conditions(batch: dict[str, Tensor], config: ModelConfig,
                        generator: torch.Generator) -> Conditions:
    """Gaze and emotion of each window, each dropped per window with the config's rates."""
    size, frames = batch["gaze"].shape[:2]
    device = batch["gaze"].device
    keep_gaze = (torch.rand(size, generator=generator) >= config.gaze_dropout).float()
    keep_emotion = (torch.rand(size, generator=generator) >= config.emotion_dropout).float()
    present = keep_gaze.to(device)[:, None].expand(size, frames)
    intensity = (batch["intensity"] * keep_emotion.to(device))[:, None].expand(size, frames)
    emotion = batch["emotion"][:, None].expand(size, frames)
    return Conditions(batch["gaze"], present, emotion, intensity)


def data_latents(codec: ExpressionCodec, rig: Tensor, config: ModelConfig) -> Tensor:
    with torch.no_grad():
        return codec.encode(rig) / config.latent_std


@dataclass(frozen=True)
class Past:
    """The clean past a causal denoiser conditions on in training, and its corruption level."""

    latent: Tensor  # (B, T, latent)
    level: Tensor  # (B, T) diffusion time the latents were noised to (1 = pure noise)


def corrupted_past(x0: Tensor, preset: Preset, generator: torch.Generator) -> Past:
    """The past a causal denoiser conditions on in training: the data latents noised to a
    random level per window, and for some windows replaced by pure noise.

    Streaming feeds the model its own earlier outputs, never the data. Trained on the exact
    past, it learns to copy it (at 50 fps each latent is nearly its predecessor), ignores
    the audio and drifts once it must follow its own errors; a corrupted past leaves the
    audio as the cue it can trust. Models with `past_conditioning` are told the level, and
    streaming presents their own outputs at the config's `past_level`.
    """
    windows = x0.shape[0]
    level = torch.rand(windows, 1, generator=generator) * preset.past_noise_max
    dropped = torch.rand(windows, 1, generator=generator) < preset.past_drop
    level = torch.where(dropped, torch.ones_like(level), level).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    level = level.expand(x0.shape[:2])
    return Past(d.diffuse(x0, noise, level), level)


@torch.no_grad()
def own_past(net: nn.Module, audio: Tensor, past: Past, cond: Conditions, share: float,
             config: ModelConfig, generator: torch.Generator) -> Past:
    """In `share` of the windows, the past becomes the model's own estimate of each frame,
    made in one evaluation from noise at the sampling temperature given `past`, and labelled
    with the level streaming presents its past at (the config's `noise_scale` and
    `past_level`).

    A corrupted data past is still the data's: noised, but free of the model's own errors,
    so a model that leans on it learns nothing of the past it streams on, where last frame's
    mistake is this frame's context. Its own estimates carry those mistakes (one frame's
    worth, not a whole rollout's), so the model learns how far to trust them.
    """
    chosen = (torch.rand(past.level.shape[0], 1, generator=generator) < share).to(past.level.device)
    if not bool(chosen.any()):
        return past
    noise = torch.randn(past.latent.shape, generator=generator).to(past.latent.device)
    z, t = noise * config.noise_scale, torch.ones_like(past.level)
    estimate = d.x0_from_v(z, net(audio, z, t, cond, past), t)
    level = torch.full_like(past.level, config.past_level)
    return Past(torch.where(chosen[..., None], estimate, past.latent),
                torch.where(chosen, level, past.level))


def training_past(net: nn.Module, audio: Tensor, x0: Tensor, cond: Conditions,
                  preset: Preset, config: ModelConfig, generator: torch.Generator) -> Past:
    """The past a causal model conditions on in a training step (teacher and student alike):
    the corrupted data, and in the preset's `own_past` share the model's own estimates."""
    past = corrupted_past(x0, preset, generator)
    if not preset.own_past:
        return past
    return own_past(net, audio, past, cond, preset.own_past, config, generator)


def denoiser_losses(net: nn.Module, batch: dict[str, Tensor], x0: Tensor, cond: Conditions,
                    preset: Preset, config: ModelConfig, generator: torch.Generator,
                    lip_loss: LipVertexLoss | None = None) -> dict[str, Tensor]:
    """v-prediction diffusion loss plus velocity and jitter losses on the x0 estimate.

    Causal models noise every frame to its own level (each frame is generated alone, from
    its clean past); the offline baseline, which denoises a whole clip at one level, trains
    with one level per window, as it samples.
    """
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    causal = config.causal
    shape = x0.shape[:2] if causal else (x0.shape[0], 1)
    t = d.sample_training_times(shape, generator=generator).to(x0.device).expand(x0.shape[:2])
    z = d.diffuse(x0, noise, t)
    past = (training_past(net, batch["audio"], x0, cond, preset, config, generator)
            if causal else None)
    v = net(batch["audio"], z, t, cond, past)
    # The velocity and jitter losses see the x0 estimate's error scaled by alpha^2 =
    # SNR / (1 + SNR): a frame near pure noise has no smooth estimate to give, and its
    # error would otherwise swamp the second differences of the (smooth) data.
    alpha, _ = d.alpha_sigma(t[..., None])
    x0_hat = x0 + alpha.square() * (d.x0_from_v(z, v, t) - x0)
    losses = {"diffusion": d.diffusion_loss(v, x0, noise, t),
              "velocity": d.velocity_loss(x0_hat, x0), "jitter": d.jitter_loss(x0_hat, x0)}
    losses["loss"] = (losses["diffusion"] + preset.velocity_weight * losses["velocity"]
                      + preset.jitter_weight * losses["jitter"])
    if lip_loss is not None:
        # on the plain x0 estimate: at t = 1 it is what the one-step student must give
        losses.update(lip_loss(d.x0_from_v(z, v, t), batch["rig"]))
        losses["loss"] = (losses["loss"] + preset.lip_vertex_weight * losses["lips"]
                          + preset.lip_contact_weight * losses["contact"])
    return losses


def to_device(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def window_dataset(run: Run, augmented: bool = True, lookahead_frames: int = 0) -> WindowDataset:
    preset = run.preset
    clips = [clip for data in (run.data_dir, *run.extra_data) for clip in load_split(data, "train")]
    return WindowDataset(clips, preset.window_frames,
                         preset.context_frames, preset.augment if augmented else None,
                         preset.seed, preset.engine_balance, lookahead_frames)


def train_denoiser(run: Run, runtime: Runtime, stage: str, steps: int | None = None,
                   resume: bool = False, stop_at: int | None = None,
                   init_from: Path | None = None, lookahead_frames: int = 0) -> "DiffusionNet":
    """The causal teacher (stage "teacher") or the offline baseline (stage "offline");
    returns this rank's trained module. `init_from`: a finished checkpoint of the same stage
    (from a run with this run's codec) to fine-tune instead of starting from scratch.
    `lookahead_frames` (teacher only): frame t is denoised having heard the audio through
    frame t + lookahead, the teacher of a look-ahead student; a resumed stage keeps its own."""
    preset = run.preset
    schedule = getattr(preset, stage)
    codec, config = load_codec(run, runtime.device)
    causal = stage == "teacher"
    if lookahead_frames and not causal:
        raise LivefaceError("--lookahead-ms is for the causal teacher (--stage teacher): the "
                            "offline baseline hears the whole clip.")
    saved = check_resume(run.path(stage), resume)
    if saved is not None:
        lookahead_frames = int(saved.get("lookahead_frames", 0))
    config = sampling_settings(replace(config, causal=causal, past_conditioning=causal and
                                       preset.model.past_conditioning,
                                       lookahead_frames=lookahead_frames), preset.model)
    total = steps or (saved or {}).get("total") or schedule.steps
    torch.manual_seed(preset.seed)  # every rank builds identical initial weights
    model = DiffusionNet(config, preset.context_frames).to(runtime.device)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimiser = make_optimiser(model, schedule)
    generator, start = generator_for(preset.seed, runtime.rank), 0
    if saved is not None:
        model.load_state_dict(saved["model"])
        ema.load_state_dict(saved["ema"])
        optimiser.load_state_dict(saved["optim"])
        generator.set_state(saved["generators"][runtime.rank])
        start = saved["step"]
    elif init_from is not None:
        initialise_from(model, ema, init_from, stage)
    net = wrap_ddp(model, runtime)
    dataset = window_dataset(run, lookahead_frames=lookahead_frames)
    lip_loss = (LipVertexLoss(codec, default_geometry(), config.latent_std).to(runtime.device)
                if preset.lip_vertex_weight or preset.lip_contact_weight else None)

    def checkpoint(step: int) -> None:
        states = gather_generators(generator, runtime)
        if runtime.main:
            state = {"model": model.state_dict(), "ema": ema.state_dict(),
                     "optim": optimiser.state_dict(), "step": step, "total": total,
                     "generators": states, "done": step == total,
                     "lookahead_frames": lookahead_frames}
            save_checkpoint(run.path(stage), state, config, stage)

    with StageLog(run, stage, start, total, runtime, preset.log_every) as log:
        for step in range(start, total):
            batch = to_device(load_batch(dataset, schedule.batch, step, runtime.rank,
                                         runtime.world), runtime.device)
            cond = training_conditions(batch, config, generator)
            x0 = data_latents(codec, batch["rig"], config)
            losses = denoiser_losses(net, batch, x0, cond, preset, config, generator, lip_loss)
            lr = learning_rate(schedule, step, total)
            optimiser_step(optimiser, model, losses["loss"], lr, schedule.grad_clip)
            update_ema(ema, model, preset.ema_decay)
            log.step(step + 1, {k: v.item() for k, v in losses.items()}, lr)
            if (step + 1) % preset.checkpoint_every == 0 or step + 1 in (total, stop_at):
                checkpoint(step + 1)
            if step + 1 == stop_at:
                break
    barrier(runtime)
    return model


def initialise_from(model: "DiffusionNet", ema: "DiffusionNet", path: Path, stage: str) -> None:
    """Start a stage from another run's finished EMA weights; only layers this model adds
    (zero-initialised, such as the past-level embedding) may be missing from them."""
    state, _ = load_checkpoint(path, kind=stage)
    if not state.get("done"):
        raise LivefaceError(f"{path} is not a finished {stage}; finish it before fine-tuning.")
    try:
        missing, unexpected = model.load_state_dict(state["ema"], strict=False)
    except RuntimeError as err:  # shapes differ: another model size
        raise LivefaceError(f"{path} does not fit this run's {stage}: {err}") from None
    if unexpected or any("past_level" not in key for key in missing):
        raise LivefaceError(f"{path} does not fit this run's {stage}: missing "
                            f"{missing or 'nothing'}, unexpected {unexpected or 'nothing'}.")
    ema.load_state_dict(model.state_dict())


def gather_generators(generator: torch.Generator, runtime: Runtime) -> list[Tensor]:
    """Every rank's generator state, so each rank resumes its own noise stream."""
    state = generator.get_state()
    if runtime.world == 1:
        return [state]
    states = [torch.empty_like(state) for _ in range(runtime.world)]
    dist.all_gather(states, state.to(runtime.device))
    return [s.cpu() for s in states]


def load_denoiser(run: Run, stage: str, device: torch.device, ema: bool = True
                  ) -> tuple[DiffusionNet, ModelConfig]:
    """A finished teacher or offline model (EMA weights by default), frozen."""
    state, config = load_checkpoint(run.path(stage), kind=stage)
    if not state["done"]:
        raise LivefaceError(f"the {stage} of {run.dir} stopped at step {state['step']} of "
                            f"{state['total']}; finish it with `liveface train --run "
                            f"{run.dir} --stage {stage} --resume`.")
    model = DiffusionNet(config, run.preset.context_frames)
    model.load_state_dict(state["ema" if ema else "model"])
    return model.to(device).eval().requires_grad_(False), config


def train(run: Run, runtime: Runtime, stage: str = "all", steps: int | None = None,
          resume: bool = False, init_from: Path | None = None,
          lookahead_frames: int = 0) -> None:
    """One stage or all three in order; with --resume, finished stages are skipped.
    `lookahead_frames`: the teacher's look-ahead (give --stage teacher)."""
    if init_from is not None and stage not in ("teacher", "offline"):
        raise LivefaceError("--init-from fine-tunes one stage: give --stage teacher or offline.")
    if lookahead_frames and stage != "teacher":
        raise LivefaceError("--lookahead-ms trains a look-ahead teacher: give --stage teacher.")
    for name in STAGES if stage == "all" else (stage,):
        if stage == "all" and resume and stage_done(run, name):
            continue
        if name == "codec":
            train_codec(run, runtime, steps, resume)
        else:
            train_denoiser(run, runtime, name, steps, resume, init_from=init_from,
                           lookahead_frames=lookahead_frames)


def stage_done(run: Run, stage: str) -> bool:
    path = run.path(stage)
    return path.is_file() and bool(load_checkpoint(path)[0]["done"])


def seed_from_bundles(run: Run, models_dir: Path) -> list[str]:
    """Write finished codec, teacher and offline checkpoints into a new run from exported
    bundles (e.g. the shipped `assets/models`), so that `--init-from RUN/teacher.safetensors`
    fine-tunes them and `liveface distill` distils from them. Returns the stages written."""
    from app.checkpoints import OFFLINE_FILE, TEACHER_FILE, load_parts

    written = []
    for stage, name in (("teacher", TEACHER_FILE), ("offline", OFFLINE_FILE)):
        path = Path(models_dir) / name
        if not path.is_file():
            continue
        parts = load_parts(path)
        net = DiffusionNet(parts.config, run.preset.context_frames)
        net.encoder, net.denoiser = parts.encoder, parts.denoiser
        done = {"step": 0, "total": 0, "done": True}
        if not run.path("codec").is_file():
            save_checkpoint(run.path("codec"), {"codec": parts.codec.state_dict(), **done},
                            parts.config, "codec")
            written.append("codec")
        save_checkpoint(run.path(stage), {"model": net.state_dict(), "ema": net.state_dict(),
                                          **done}, parts.config, stage)
        written.append(stage)
    if not written:
        raise LivefaceError(f"{models_dir} holds no teacher or offline bundle to start from.")
    return written
