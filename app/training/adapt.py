"""Fit the student to one person's voice from their takes, on the CPU (voice enrolment).

The takes are force-aligned and animated by the procedural teacher (as every recorded
corpus is), joined into one clip with short pauses, and cut into training windows as the
student's own training does. A voice adapter and copies of the student's encoder and
denoiser learn (`app.model.voice_adapter.VoiceFit`; the codec stays frozen), from the
student's one-step samples as it streams them (its own past, at the level it streams at),
judged where the metrics judge them:

    loss = lips + contact_weight * contact + opening_weight * opening
           + shrink * mean(adapter numbers ** 2) + anchor * sum((w - w_shipped) ** 2)

`lips` is the lip-vertex error against the teacher's track, `contact` charges lips left
apart where the reference's touch (p/b/m, closed pauses) and `opening` lips shut where the
reference's are apart (`app.training.lip_loss`). A minute of speech is little to learn
from: `shrink` keeps the adapter near the identity and `anchor` the weights near the
shipped ones (L2-SP, Li et al. 2018), so that what the student knew of other voices stays.
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.features import LogMel
from app.checkpoints import ModelParts
from app.data.align import AlignedClip
from app.data.recorded import GAP_S, joined_timeline
from app.data.teacher import animate, default_geometry
from app.errors import LivefaceError
from app.model import diffusion as d
from app.model.denoiser import Conditions
from app.model.voice_adapter import AdaptedEncoder, VoiceAdapter, VoiceFit
from app.training.data import Clip, WindowDataset, load_batch
from app.training.lip_loss import LipVertexLoss
from app.training.train import Past, corrupted_past, data_latents, own_past


@dataclass(frozen=True)
class AdaptSettings:
    """The recipe, chosen on the validation speaker (see the README's voice section)."""

    steps: int = 120
    batch: int = 8
    learning_rate: float = 0.01  # the adapter's
    model_learning_rate: float = 3e-4  # the encoder's and denoiser's; 0: adapter only
    anchor: float = 0.1
    window_frames: int = 96  # 1.92 s per window, as the student trained
    context_frames: int = 32
    contact_weight: float = 1.0
    opening_weight: float = 5.0
    shrink: float = 0.1
    past_noise_max: float = 1.0  # the corrupted past the own-past estimate starts from
    past_drop: float = 0.25
    seed: int = 0


class AdaptedNet(nn.Module):
    """The student with an adapter around its encoder: audio in, v out (the training-time
    view of `Animator`)."""

    def __init__(self, parts: ModelParts, adapter: VoiceAdapter, context_frames: int):
        super().__init__()
        config = self.config = parts.config
        self.context_frames = context_frames
        self.log_mel = LogMel(config.mel_mean, config.mel_std, config.mel_log_floor)
        self.encoder = AdaptedEncoder(parts.encoder, adapter)
        self.denoiser = parts.denoiser

    def forward(self, audio: Tensor, noisy: Tensor, level: Tensor, cond: Conditions,
                past: Past | None = None) -> Tensor:
        first = self.context_frames + self.config.lookahead_frames
        features = self.encoder(self.log_mel(audio))[0][:, first:first + noisy.shape[1]]
        return self.denoiser.forward_sequence(noisy, level, features, cond,
                                              past.latent if past else None,
                                              past.level if past else None)


def enrolment_clip(takes: list[AlignedClip], seed: int = 0) -> Clip:
    """The takes one after another with `GAP_S` of silence between them, animated by the
    teacher as one clip (its pauses close the lips as a person's do)."""
    gap = np.zeros(round(GAP_S * SAMPLE_RATE_HZ), np.float32)
    audio = np.concatenate([part for take in takes for part in (take.audio, gap)])
    timeline = joined_timeline([t.timeline for t in takes],
                               [len(t.audio) / SAMPLE_RATE_HZ + GAP_S for t in takes])
    rig = animate(timeline, audio, seed=seed)
    frames = rig.shape[0]
    audio = np.pad(audio, (0, max(0, frames * 320 - len(audio))))[:frames * 320]
    return Clip("enrolment", audio.astype(np.float32), rig.astype(np.float32), 0, 0.0,
                "train", None, timeline.language, "recorded")


def fit_voice(parts: ModelParts, takes: list[AlignedClip],
              settings: AdaptSettings = AdaptSettings(), log=None) -> VoiceFit:
    """The student fitted to the takes (`parts` themselves are left as they were)."""
    return fit_clips(parts, [enrolment_clip(takes, settings.seed)], settings, log)


def fit_clips(parts: ModelParts, clips: list[Clip], settings: AdaptSettings = AdaptSettings(),
              log=None) -> VoiceFit:
    """The student fitted to training windows cut from `clips` (one person's joined takes
    for an enrolment; any recorded clips with the teacher's tracks)."""
    if not parts.config.causal:
        raise LivefaceError("a voice is fitted to the streaming student, not the offline "
                            "baseline.")
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    config = parts.config
    parts.codec.eval().requires_grad_(False)
    fit = VoiceFit(VoiceAdapter(config), copy.deepcopy(parts.encoder).eval(),
                   copy.deepcopy(parts.denoiser).eval())
    tuned = [p for m in (fit.encoder, fit.denoiser) for p in m.parameters()]
    for weight in tuned:
        weight.requires_grad_(settings.model_learning_rate > 0)
    shipped = [weight.detach().clone() for weight in tuned]
    net = AdaptedNet(ModelParts(config, fit.encoder, fit.denoiser, parts.codec), fit.adapter,
                     settings.context_frames)
    lip_loss = LipVertexLoss(parts.codec, default_geometry(), config.latent_std)
    dataset = WindowDataset(clips, settings.window_frames, settings.context_frames, None,
                            settings.seed, lookahead_frames=config.lookahead_frames)
    groups = [{"params": list(fit.adapter.parameters()), "lr": settings.learning_rate}]
    if settings.model_learning_rate > 0:
        groups.append({"params": tuned, "lr": settings.model_learning_rate})
    optimiser = torch.optim.Adam(groups)
    for step in range(settings.steps):
        batch = load_batch(dataset, settings.batch, step)
        losses = adapter_losses(net, fit.adapter, lip_loss, batch, settings, generator)
        if settings.model_learning_rate > 0:
            losses["anchor"] = sum((w - w0).square().sum() for w, w0 in zip(tuned, shipped))
            losses["loss"] = losses["loss"] + settings.anchor * losses["anchor"]
        optimiser.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimiser.step()
        if log is not None and (step + 1) % 40 == 0:
            log(step + 1, {k: round(v.item(), 4) for k, v in losses.items()})
    return fit.frozen()


def adapter_losses(net: AdaptedNet, adapter: VoiceAdapter, lip_loss: LipVertexLoss,
                   batch: dict[str, Tensor], settings: AdaptSettings,
                   generator: torch.Generator) -> dict[str, Tensor]:
    """The adapter's losses on one batch of windows (see the module's doc). The past is the
    student's own one-step estimate of every frame, as it streams (`own_past`), made from a
    corrupted copy of the reference (`corrupted_past`, with the settings' noise)."""
    x0 = data_latents(lip_loss.codec, batch["rig"], net.config)
    cond = Conditions.absent(x0.shape[0], x0.shape[1], x0)
    past = corrupted_past(x0, settings, generator)
    past = own_past(net, batch["audio"], past, cond, 1.0, net.config, generator)
    noise = torch.randn(x0.shape, generator=generator) * net.config.noise_scale  # as it streams
    sample = d.student_x0(lambda z, t: net(batch["audio"], z, t.expand(z.shape[:2]), cond, past),
                          noise)
    losses = lip_loss(sample, batch["rig"])
    numbers = torch.cat([p.flatten() for p in adapter.parameters()])
    losses["shrink"] = numbers.square().mean()
    losses["loss"] = (losses["lips"] + settings.contact_weight * losses["contact"]
                      + settings.opening_weight * losses["opening"]
                      + settings.shrink * losses["shrink"])
    return losses
