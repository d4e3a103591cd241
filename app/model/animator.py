"""The streaming animator: 320 new samples in, one animation frame out, state as a value.

    frame, state = animator.step(state, block, cond, noise, steps=1)

`state` holds everything that carries over (audio tail, encoder tails, the KV cache of the
clean past, the previous frame's latent waiting to be committed to the cache); `step` never
mutates it. The same call runs the one-step student (`steps=1`) and the K-step teacher
(`steps=K`, optionally with classifier-free guidance): the number of steps is an argument,
the network is whichever `Denoiser` the animator was built with.

Each frame: log-mel of the block (2 mel frames) -> audio encoder (1 feature) -> sample the
frame's latent by DDIM from `noise`; the first network call also commits the previous
frame's clean latent to the cache (one two-token forward instead of two one-token ones)
-> codec decoder -> rig vector and texture controls -> with a lip-contact head
(`app.model.lip_contact`), the lips closed or parted where the head hears p/b/m or other
speech (the latent stays the model's own; the state never sees the edit).

Device, dtype and thread count are the caller's: the state follows the device of the block
the first `initial_state` call was given. Nothing here builds losses or optimisers.
"""

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from app.audio.contract import SAMPLES_PER_FRAME
from app.audio.features import LogMel, MelState, StreamingLogMel
from app.model.audio_encoder import AudioEncoder, EncoderState
from app.model.codec import ExpressionCodec
from app.model.config import ModelConfig
from app.model.denoiser import Conditions, Denoiser, KVCache, Tokens
from app.model.diffusion import (
    ddim_sample,
    ddim_step,
    guided,
    sampling_times,
    x0_from_v,
)
from app.model.lip_contact import ContactHead, apply_contact, contact_codes


@dataclass(frozen=True)
class AnimatorState:
    mel: MelState
    encoder: EncoderState
    cache: KVCache  # clean frames [t - w, t - 2] (t = next frame)
    pending_latent: Tensor  # (B, 1, latent) frame t - 1, diffusion scale, not yet cached
    pending_audio: Tensor  # (B, 1, audio_channels) its audio feature
    next_frame: int  # t; 0 means nothing is pending yet
    contact_tail: Tensor | None = None  # (B, context - 1, C) features the contact head reads


@dataclass(frozen=True)
class Frame:
    """n animation frames (n = 1 for one 320-sample block)."""

    latent: Tensor  # (B, n, 32) codec latents
    rig: Tensor  # (B, n, 57) within RIG_MIN..RIG_MAX
    wrinkle: Tensor  # (B, n, 6) in 0..1
    flush: Tensor  # (B, n, 6) in 0..1
    audio_end_sample: Tensor  # (n,) long: the sample count of the audio each frame used
    # (B, n) int8 lip-contact codes (app.model.lip_contact: none, close, open) the rig
    # carries out; None for a model without a contact head
    contact: Tensor | None = None


# Frames of silence the audio encoder hears before a stream starts (see initial_state): as
# many as the training windows' context before a clip's first frame.
WARM_UP_FRAMES = 32


class Animator(nn.Module):
    def __init__(self, config: ModelConfig, encoder: AudioEncoder, denoiser: Denoiser,
                 codec: ExpressionCodec, contact: ContactHead | None = None):
        super().__init__()
        if not config.causal:
            raise ValueError("the streaming animator needs a causal denoiser (causal=True)")
        self.config = config
        self.log_mel = LogMel(config.mel_mean, config.mel_std, config.mel_log_floor)
        self.streaming_mel = StreamingLogMel(self.log_mel)
        self.encoder, self.denoiser, self.codec = encoder, denoiser, codec
        self.contact = contact
        # A streaming call's token layout, in frames relative to the newest token (positions
        # are relative, so absolute frame numbers never matter): the noisy token alone, or
        # the previous frame's clean commit followed by it.
        self.register_buffer("_noisy_frames", torch.zeros(1, dtype=torch.long), persistent=False)
        self.register_buffer("_noisy_clean", torch.zeros(1, dtype=torch.bool), persistent=False)
        self.register_buffer("_commit_frames", torch.tensor([-1, 0]), persistent=False)
        self.register_buffer("_commit_clean", torch.tensor([True, False]), persistent=False)
        self._times: dict[tuple, tuple[Tensor, ...]] = {}  # see sampling_times

    @classmethod
    def build(cls, config: ModelConfig) -> "Animator":
        """Freshly initialised parts (load weights into them afterwards)."""
        return cls(config, AudioEncoder(config), Denoiser(config), ExpressionCodec(config))

    @torch.inference_mode()
    def initial_state(self, batch: int, like: Tensor) -> AnimatorState:
        """`like`: any tensor on the device and dtype the caller wants to run on.

        The audio encoder has heard `WARM_UP_FRAMES` of silence, as every training window is
        preceded by context audio (silence before a clip starts): with an empty history its
        first frames were unlike anything it trained on, and a silent clip began with the
        lips apart."""
        c = self.config
        mel_state = self.streaming_mel.initial_state(batch, like.device, like.dtype)
        silence = like.new_zeros(batch, WARM_UP_FRAMES * SAMPLES_PER_FRAME)
        mel, mel_state = self.streaming_mel.step(mel_state, silence)
        warm, encoder_state = self.encoder(mel, self.encoder.initial_state(batch,
                                                                          like.new_zeros(1)))
        tail = None
        if self.contact is not None:  # the head reads features as a clip's first frames do
            tail = warm.new_zeros(batch, self.contact.context - 1, warm.shape[-1])
        return AnimatorState(mel_state, encoder_state, KVCache.empty(c, batch, like),
                             like.new_zeros(batch, 1, c.latent_size),
                             like.new_zeros(batch, 1, c.audio_channels), 0, tail)

    @torch.inference_mode()
    def step(self, state: AnimatorState, block: Tensor, cond: Conditions, noise: Tensor,
             steps: int = 1, guidance: float = 1.0) -> tuple[Frame, AnimatorState]:
        """block (B, 320 n) samples; cond shaped (B, n, ...); noise (B, n, latent)."""
        if block.shape[-1] % SAMPLES_PER_FRAME:
            raise ValueError(f"a block must be a multiple of {SAMPLES_PER_FRAME} samples")
        mel, mel_state = self.streaming_mel.step(state.mel, block)
        audio, encoder_state = self.encoder(mel, state.encoder)
        cond = safe_conditions(cond)
        cache, latent, feature, t = state.cache, state.pending_latent, state.pending_audio, state.next_frame
        n = audio.shape[1]
        latents = []
        for i in range(n):
            # frame i of the (B, n, ...) inputs; a one-frame block is its own frame
            at = (lambda x: x) if n == 1 else (lambda x: x[:, i:i + 1])  # noqa: E731
            commit = (latent, feature) if t > 0 else None
            latent, cache = self.sample_frame(cache, commit, at(audio), cond.map(at), at(noise),
                                              steps, guidance)
            feature, t = at(audio), t + 1
            latents.append(latent)
        frame = self.decode(latent if n == 1 else torch.cat(latents, dim=1), t)
        tail = state.contact_tail
        if self.contact is not None:
            frame, tail = self.touch_lips(frame, audio, tail)
        return frame, AnimatorState(mel_state, encoder_state, cache, latent, feature, t, tail)

    def touch_lips(self, frame: Frame, audio: Tensor, tail: Tensor) -> tuple[Frame, Tensor]:
        """The contact head's answer for the frame's audio features, carried out on its rig
        (the latent stays the model's own: a call sends the codes beside it)."""
        log_probs, tail = self.contact.classify(audio, tail)
        codes = contact_codes(log_probs, self.config.contact_close, self.config.contact_open)
        rig = apply_contact(frame.rig, codes, self.contact.lips)
        return replace(frame, rig=rig, contact=codes), tail

    def sample_frame(self, cache: KVCache, commit: tuple[Tensor, Tensor] | None, audio: Tensor,
                     cond: Conditions, noise: Tensor, steps: int, guidance: float
                     ) -> tuple[Tensor, KVCache]:
        """DDIM over one frame's latent given the cached clean past; commits `commit` first.

        The last step lands on t = 0, where DDIM's update is the x0 estimate itself, so it
        returns that (the one-step student's whole sampler is x0 = -v(noise, 1))."""
        times = self.sampling_times(steps, noise.device)
        z = noise * self.config.noise_scale
        for i in range(steps):
            t = times[i]
            v, cache = self.velocity(cache, commit, z, audio, t, cond)
            if guidance != 1.0:
                v_uncond, _ = self.velocity(cache, None, z, audio, t, cond.dropped())
                v = guided(v, v_uncond, guidance)
            z = x0_from_v(z, v, t) if i == steps - 1 else ddim_step(z, v, t, times[i + 1])
            commit = None
        return z, cache

    def sampling_times(self, steps: int, device: torch.device) -> tuple[Tensor, ...]:
        """The K + 1 DDIM times as 0-d tensors, made once per (K, device)."""
        key = (steps, device)
        if key not in self._times:
            self._times[key] = tuple(sampling_times(steps, device))
        return self._times[key]

    def velocity(self, cache: KVCache, commit: tuple[Tensor, Tensor] | None, z: Tensor,
                 audio: Tensor, t: Tensor, cond: Conditions) -> tuple[Tensor, KVCache]:
        """v for the noisy token; with a commit, also the cache that includes it.

        The commit is token 0 and the noisy token's conditions serve both tokens (a clean
        token ignores them), so the call builds no conditions of its own."""
        level = t.expand(z.shape[0], 1)
        if commit is None:
            tokens = Tokens(z, audio, level, cond, self._noisy_frames, self._noisy_clean)
            return self.denoiser(tokens, cache)[0], cache
        tokens = Tokens(torch.cat([commit[0], z], 1), torch.cat([commit[1], audio], 1),
                        torch.cat([torch.full_like(level, self.config.past_level), level], 1),
                        cond, self._commit_frames, self._commit_clean)
        v, keys, values = self.denoiser(tokens, cache)
        cache = cache.extend(keys[:, :, :, :1], values[:, :, :, :1], self.config.window_frames)
        return v[:, -1:], cache

    def decode(self, latents: Tensor, next_frame: int) -> Frame:
        """Diffusion-scale latents (B, n, D) -> a Frame ending before frame `next_frame`."""
        latent = latents * self.config.latent_std
        decoded = self.codec.decode(latent)
        first = next_frame - latents.shape[1]
        ends = torch.arange((first + 1) * SAMPLES_PER_FRAME, (next_frame + 1) * SAMPLES_PER_FRAME,
                            SAMPLES_PER_FRAME, device=latents.device)
        return Frame(latent, decoded.rig, decoded.wrinkle, decoded.flush, ends)


def safe_conditions(cond: Conditions) -> Conditions:
    """Non-finite gaze counts as not measured; intensity is clipped to 0..1."""
    present = cond.gaze_present * torch.isfinite(cond.gaze).all(dim=-1)
    # a row with a non-finite part is not measured (present = 0), so its zeroed parts are unused
    gaze = torch.nan_to_num(cond.gaze, nan=0.0, posinf=0.0, neginf=0.0)
    intensity = torch.nan_to_num(cond.intensity, nan=0.0).clamp(0.0, 1.0)
    return Conditions(gaze, present, cond.emotion, intensity)


def animate_clip(animator: Animator, audio: Tensor, cond: Conditions, noise: Tensor,
                 steps: int = 1, guidance: float = 1.0, frames_per_block: int = 1) -> Frame:
    """A whole clip (B, N) as a loop over `step`; the tail is padded with silence to whole
    frames. cond is (B, T, ...) and noise (B, T, latent) with T = ceil(N / 320).

    A model with look-ahead L gives the face of frame t after block t + L: the clip is
    streamed with L blocks of silence after it, and the L frames it gives before frame 0
    (faces of the silence before the clip) are left out, so frame t is the clip's frame t."""
    ahead = animator.config.lookahead_frames
    total = -(-audio.shape[-1] // SAMPLES_PER_FRAME) + ahead
    audio = nn.functional.pad(audio, (0, total * SAMPLES_PER_FRAME - audio.shape[-1]))
    if ahead:  # the faces before frame 0 take frame 0's conditions and noise

        def before(x: Tensor) -> Tensor:
            return torch.cat([x[:, :1].expand(-1, ahead, *x.shape[2:]), x], 1)

        cond, noise = cond.map(before), before(noise)
    state = animator.initial_state(audio.shape[0], audio)
    frames = []
    for start in range(0, total, frames_per_block):
        stop = min(start + frames_per_block, total)
        part = lambda x: x[:, start:stop]  # noqa: E731
        frame, state = animator.step(state, audio[:, start * SAMPLES_PER_FRAME:
                                                  stop * SAMPLES_PER_FRAME],
                                     cond.map(part), part(noise), steps, guidance)
        frames.append(frame)
    tracks = (torch.cat([getattr(f, name) for f in frames], dim=1)[:, ahead:]
              for name in ("latent", "rig", "wrinkle", "flush"))
    contact = (None if frames[0].contact is None
               else torch.cat([f.contact for f in frames], dim=1)[:, ahead:])
    return Frame(*tracks, torch.cat([f.audio_end_sample for f in frames])[ahead:], contact)


@torch.inference_mode()
def generate_offline(log_mel: LogMel, encoder: AudioEncoder, denoiser: Denoiser, audio: Tensor,
                     cond: Conditions, noise: Tensor, steps: int) -> Tensor:
    """The offline baseline (causal=False): K DDIM steps over the whole clip at once.
    Returns diffusion-scale latents (B, T, latent)."""
    features, _ = encoder(log_mel(audio))

    def v_fn(z: Tensor, t: Tensor) -> Tensor:
        return denoiser.forward_sequence(z, t.expand(z.shape[:2]), features, cond)

    return ddim_sample(v_fn, noise * denoiser.config.noise_scale, steps)


class StreamingAnimator:
    """A caller-friendly wrapper that keeps the state: `push(block) -> Frame`.

    Noise comes from a seeded generator on the caller's device, so a run is reproducible.
    """

    def __init__(self, animator: Animator, like: Tensor, steps: int = 1, seed: int = 0,
                 guidance: float = 1.0):
        self.animator, self.steps, self.guidance = animator.eval(), steps, guidance
        self.like = like
        self.generator = torch.Generator(device=like.device).manual_seed(seed)
        self.state = animator.initial_state(1, like)

    @property
    def lookahead_frames(self) -> int:
        """Blocks the face lags the audio by: a push returns the face of the block pushed
        this many pushes ago."""
        return self.animator.config.lookahead_frames

    def push(self, block: Tensor, emotion: int = 0, intensity: float = 0.0,
             gaze: tuple[float, float] | None = None) -> Frame:
        """block: (320,) float samples at 16 kHz on any device; returns one frame."""
        block = block.to(self.like).reshape(1, -1)
        cond = Conditions.absent(1, 1, self.like)
        if gaze is not None:
            cond = Conditions(self.like.new_tensor(gaze).view(1, 1, 2),
                              self.like.new_ones(1, 1), cond.emotion, cond.intensity)
        cond = Conditions(cond.gaze, cond.gaze_present,
                          torch.full_like(cond.emotion, emotion),
                          torch.full_like(cond.intensity, intensity))
        noise = torch.randn(1, 1, self.animator.config.latent_size, generator=self.generator,
                            device=self.like.device, dtype=self.like.dtype)
        frame, self.state = self.animator.step(self.state, block, cond, noise, self.steps,
                                               self.guidance)
        return frame
