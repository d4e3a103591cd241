"""Named training presets: the model's size and every stage's schedule in one typed value.

- "tiny": a few thousand parameters and a handful of steps, for tests (seconds).
- "cpu": trains a usable model on a 2-core machine in about two hours in all. Measured on
  2 shared cores (torch threads 2): codec ~240 steps/s (4,000 steps, ~20 s), teacher ~4.5
  steps/s with the lip-vertex loss and speed perturbation (20,000 steps, ~75 min), offline
  ~7 steps/s (8,000 steps, ~20 min), distill ~3.9 steps/s (3,000 steps, ~13 min); about 1.3 M parameters,
  5.4 MB per bundle. The teacher is told its past's corruption level, learns lips through
  the lip-vertex loss and sees the rarer speech engines' clips more often; half of its
  windows are played 0.85-1.3x as fast (speed perturbation, `AugmentConfig.speed_range`),
  which varies speaking rate and voice pitch beyond the few synthetic voices; it samples with
  K = 50 at temperature 0.5 and presents its own past at level 0.5 (chosen on the
  validation split: 0.7 closes lips a little more often, 0.9 collapses; 0.5 keeps a margin).
  Half of the teacher's and the student's training windows condition on the model's own
  one-step estimates instead of the corrupted data (`own_past`): one more forward pass
  without gradients per step, 30-40% slower, and what keeps a model trained on varied text
  from drifting once it streams on its own frames. Only the student is charged the lip
  contact term (weight 0.1): with it on the teacher and the offline baseline too (weight 1)
  the teacher scored worse LVE on every evaluation set and its student closed its lips on
  about a third of the vowels.
- "gpu": a larger model and longer schedules for one CUDA GPU (or several with torchrun).
"""

from dataclasses import dataclass, field, replace

from app.errors import LivefaceError
from app.model.config import ModelConfig, tiny_config
from app.training.augment import AugmentConfig


@dataclass(frozen=True)
class StageSchedule:
    steps: int
    batch: int  # windows per process per step
    lr: float
    warmup_steps: int
    weight_decay: float = 0.01
    grad_clip: float = 1.0


@dataclass(frozen=True)
class Preset:
    name: str
    model: ModelConfig
    codec: StageSchedule  # batch counts rig frames here, not windows
    teacher: StageSchedule
    offline: StageSchedule
    distill: StageSchedule
    window_frames: int = 96  # 1.92 s of animation per training window
    context_frames: int = 32  # audio before the window that warms the encoder up
    ema_decay: float = 0.999
    velocity_weight: float = 0.1
    # The normalised jitter ratio starts in the thousands on smooth teacher tracks (any
    # estimate error is jitter next to them); a small weight keeps it from steering alone.
    jitter_weight: float = 1e-3
    distill_jitter_weight: float = 1e-3  # on the student's one-step samples vs the data
    lip_weight: float = 3.0  # codec: mouth and jaw errors count this much more
    lip_vertex_weight: float = 0.0  # denoisers: the lip-vertex loss (see training.lip_loss)
    lip_contact_weight: float = 0.0  # teacher and offline: its contact term (lips that touch)
    distill_contact_weight: float = 0.0  # the student's contact term against the data
    distill_opening_weight: float = 0.0  # its opening term (lips shut where the data's are apart)
    # SpecAugment-style frequency masking of the student's log-mel in distillation: this many
    # bands per window, each up to `mel_mask_bins` wide, hidden (the teacher hears them all)
    distill_mel_masks: int = 0
    mel_mask_bins: int = 10
    engine_balance: float = 0.0  # repeat clips of rare speech engines (see data.engine_repeats)
    texture_weight: float = 0.5
    dmd_weight: float = 0.25  # distillation: DMD term beside the teacher regression
    # The causal models' training past: noised up to this diffusion time per window, and
    # replaced by pure noise in this share of windows (see train.corrupted_past).
    past_noise_max: float = 0.5
    past_drop: float = 0.25
    # In this share of windows the past is instead the model's own one-step estimate of
    # each frame, presented at the streaming level (see train.own_past).
    own_past: float = 0.0
    distill_teacher_steps: int = 0  # K of the teacher the student matches; 0 = the config's
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    log_every: int = 25
    checkpoint_every: int = 250
    seed: int = 0


def _tiny() -> Preset:
    return Preset(
        name="tiny", model=tiny_config(past_conditioning=True, past_level=0.3, noise_scale=0.5),
        codec=StageSchedule(steps=60, batch=256, lr=3e-3, warmup_steps=5),
        teacher=StageSchedule(steps=30, batch=4, lr=3e-3, warmup_steps=3),
        offline=StageSchedule(steps=20, batch=4, lr=3e-3, warmup_steps=3),
        distill=StageSchedule(steps=10, batch=4, lr=1e-3, warmup_steps=2),
        window_frames=24, context_frames=8, ema_decay=0.9,
        augment=AugmentConfig(speed_probability=0.5),
        log_every=5, checkpoint_every=10, past_noise_max=1.0, lip_vertex_weight=1.0,
        lip_contact_weight=1.0, distill_contact_weight=1.0, distill_opening_weight=1.0,
        own_past=0.5, distill_mel_masks=2)


def _cpu() -> Preset:
    model = ModelConfig(d_model=128, n_layers=4, n_heads=4, window_frames=64,
                        audio_channels=128, sampling_steps=50, past_conditioning=True,
                        past_level=0.5, noise_scale=0.5)
    return Preset(
        name="cpu", model=model,
        codec=StageSchedule(steps=4000, batch=512, lr=2e-3, warmup_steps=100),
        teacher=StageSchedule(steps=20000, batch=8, lr=1e-3, warmup_steps=300),
        offline=StageSchedule(steps=8000, batch=8, lr=1e-3, warmup_steps=300),
        distill=StageSchedule(steps=3000, batch=4, lr=2e-4, warmup_steps=100),
        window_frames=96, context_frames=32, distill_teacher_steps=8, checkpoint_every=500,
        past_noise_max=1.0, lip_vertex_weight=1.0, distill_contact_weight=0.1,
        engine_balance=0.5, own_past=0.5,
        augment=AugmentConfig(speed_probability=0.5))


def _gpu() -> Preset:
    model = ModelConfig(d_model=256, n_layers=6, n_heads=8, window_frames=64,
                        audio_channels=256, audio_dilations=(1, 2, 4, 8, 16),
                        sampling_steps=50, past_conditioning=True, past_level=0.5,
                        noise_scale=0.5)
    return Preset(
        name="gpu", model=model,
        codec=StageSchedule(steps=20000, batch=4096, lr=2e-3, warmup_steps=500),
        teacher=StageSchedule(steps=60000, batch=64, lr=5e-4, warmup_steps=1000),
        offline=StageSchedule(steps=30000, batch=64, lr=5e-4, warmup_steps=1000),
        distill=StageSchedule(steps=10000, batch=32, lr=1e-4, warmup_steps=200),
        window_frames=150, context_frames=32, ema_decay=0.9995, log_every=100,
        checkpoint_every=1000, past_noise_max=1.0, lip_vertex_weight=1.0,
        distill_contact_weight=0.1, engine_balance=0.5, own_past=0.5,
        augment=AugmentConfig(speed_probability=0.5))


PRESETS = {"tiny": _tiny, "cpu": _cpu, "gpu": _gpu}


def get_preset(name: str, **overrides) -> Preset:
    if name not in PRESETS:
        raise LivefaceError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return replace(PRESETS[name](), **overrides)
