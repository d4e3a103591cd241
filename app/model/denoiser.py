"""The online denoiser: a transformer over per-frame tokens with windowed attention.

Outpainting. A token is either *clean* (an already generated latent, fixed forever) or
*noisy* (the latent being generated, at diffusion time t). Frame t's noisy token attends to
the clean tokens of frames [t - w, t - 1] and to itself; a clean token of frame s attends to
the clean tokens of frames [s - w, s]. Clean tokens never see noisy ones, so their keys and
values depend only on the fixed past: they are computed once and kept in a `KVCache`, and a
new frame costs one (or, with its predecessor's commit, two) tokens' forward. As in any
sliding-window transformer, each layer looks back w frames, so L layers reach L * w frames
of clean past, while the cache holds only w entries per layer.

Training runs the same rule on 2T tokens at once (T clean, T noisy; "two-stream teacher
forcing"), so every frame learns "denoise me given my clean past" in one pass. The offline
baseline (`causal=False`) uses one noisy stream with full bidirectional attention instead.

Positions are rotary and relative: keys are cached unrotated and rotated at each call by
their offset inside the window, so the cache works at any absolute time without the float
precision of large angles drifting over an hour-long session.

Conditions (gaze, emotion) enter the *noisy* token only: the past is already expressed by its
latents, and the cache then holds no conditions, so classifier-free guidance's conditional
and unconditional branches share one cache. Emotion enters through a zero-initialised linear
layer, so adding it cannot disturb a model trained without it.

Past conditioning (`config.past_conditioning`): a clean token may also carry the level its
latent was corrupted to. Training noises the past to random known levels; streaming presents
the model's own outputs at the fixed `config.past_level`, which tells the model how far to
trust them against the audio (its own outputs are not the data). The level is a property of
the committed frame, so the cache still holds only what the past fixes.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from app.model.config import GELU_APPROXIMATION, ModelConfig

_MEMO_TOKENS = 2  # calls of at most this many tokens (streaming) reuse their layout


@dataclass(frozen=True)
class Conditions:
    """Per-frame conditions, shaped (B, n, ...). Intensity 0 or gaze_present 0 = dropped."""

    gaze: Tensor  # (B, n, 2) yaw, pitch in rad
    gaze_present: Tensor  # (B, n) 1 where measured, 0 where the model should synthesise it
    emotion: Tensor  # (B, n) long, index into EMOTIONS
    intensity: Tensor  # (B, n) 0..1

    @classmethod
    def absent(cls, batch: int, frames: int, like: Tensor) -> "Conditions":
        zeros = like.new_zeros(batch, frames)
        return cls(like.new_zeros(batch, frames, 2), zeros, zeros.long(), zeros)

    def dropped(self) -> "Conditions":
        """The unconditional branch: no gaze measured, no emotion asked for."""
        return Conditions.absent(*self.intensity.shape, self.gaze)

    def map(self, fn: Callable[[Tensor], Tensor]) -> "Conditions":
        """The same function applied to every field (slicing frames, moving devices)."""
        return Conditions(fn(self.gaze), fn(self.gaze_present), fn(self.emotion),
                          fn(self.intensity))

    def cat(self, other: "Conditions") -> "Conditions":
        return Conditions(*(torch.cat([a, b], dim=1) for a, b in zip(
            (self.gaze, self.gaze_present, self.emotion, self.intensity),
            (other.gaze, other.gaze_present, other.emotion, other.intensity))))


@dataclass(frozen=True)
class Tokens:
    latent: Tensor  # (B, n, latent)
    audio: Tensor  # (B, n, audio_channels)
    level: Tensor  # (B, n) diffusion time t in [0, 1]; for clean tokens, their corruption
    cond: Conditions  # (B, n, ...) or (B, 1, ...) shared by all; ignored for clean tokens
    frame: Tensor  # (n,) long, frame index of each token
    clean: Tensor  # (n,) bool


@dataclass(frozen=True)
class KVCache:
    """Unrotated keys and values of the newest clean frames (at most w), oldest first.

    They belong to the frames just before the earliest frame of the next call's tokens.
    """

    keys: Tensor  # (layers, B, heads, m, head_dim)
    values: Tensor

    @classmethod
    def empty(cls, config: ModelConfig, batch: int, like: Tensor) -> "KVCache":
        shape = (config.n_layers, batch, config.n_heads, 0, config.head_dim)
        return cls(like.new_zeros(shape), like.new_zeros(shape))

    @property
    def length(self) -> int:
        return self.keys.shape[3]

    def extend(self, keys: Tensor, values: Tensor, window: int) -> "KVCache":
        """A new cache with `keys`/`values` (frames in order) appended, truncated to `window`."""
        keys = torch.cat([self.keys, keys], dim=3)[:, :, :, -window:]
        values = torch.cat([self.values, values], dim=3)[:, :, :, -window:]
        return KVCache(keys, values)


def attention_mask(q_frame: Tensor, q_clean: Tensor, k_frame: Tensor, k_clean: Tensor,
                   k_is_q: Tensor, window: int) -> Tensor:
    """(n_q, n_k) bool: the outpainting rule of the module docstring."""
    lag = q_frame[:, None] - k_frame[None, :]
    in_window = (lag >= 0) & (lag <= window)
    sees_clean = k_clean[None, :] & ((lag > 0) | q_clean[:, None])
    return in_window & (sees_clean | k_is_q)


def rotary_tables(positions: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
    """(L, head_dim) tables for `rotate`: [cos, cos] and [-sin, sin] of each pair's angle."""
    inv_freq = 10000.0 ** (-torch.arange(0, head_dim, 2, device=positions.device) / head_dim)
    angles = positions.to(inv_freq.dtype)[:, None] * inv_freq  # (L, head_dim / 2)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], dim=-1), torch.cat([-sin, sin], dim=-1)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """RoPE on (B, H, L, head_dim): rotate (first half, second half) pairs by position,
    [x1 cos - x2 sin, x2 cos + x1 sin], written as x cos + [x2, x1] [-sin, sin]."""
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_heads, self.head_dim = config.n_heads, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)

    def forward(self, x: Tensor, past_k: Tensor, past_v: Tensor, rotary: tuple[Tensor, Tensor],
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        batch, n, width = x.shape
        q, k, v = self.qkv(x).view(batch, n, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        cos, sin = rotary  # rows: cached keys first, then the new tokens
        keys = rotate(torch.cat([past_k, k], dim=2), cos, sin)
        values = torch.cat([past_v, v], dim=2)
        q = rotate(q, cos[-n:], sin[-n:])
        y = nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(batch, n, width)), k, v


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(config.d_model), nn.LayerNorm(config.d_model)
        self.attn = Attention(config)
        hidden = config.mlp_ratio * config.d_model
        self.mlp = nn.Sequential(nn.Linear(config.d_model, hidden),
                                 nn.GELU(approximate=GELU_APPROXIMATION),
                                 nn.Linear(hidden, config.d_model))

    def forward(self, x, past_k, past_v, rotary, mask):
        h, k, v = self.attn(self.norm1(x), past_k, past_v, rotary, mask)
        x = x + h
        return x + self.mlp(self.norm2(x)), k, v


def zero_linear(size_in: int, size_out: int) -> nn.Linear:
    layer = nn.Linear(size_in, size_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class TokenEmbedding(nn.Module):
    """latent + audio (every token); noise level, gaze and emotion (noisy tokens only)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        d = config.d_model
        self.latent = nn.Linear(config.latent_size, d)
        self.audio = nn.Linear(config.audio_channels, d)
        self.register_buffer("level_freqs", torch.exp(torch.linspace(
            0.0, math.log(1000.0), config.level_features // 2)), persistent=False)
        self.level = nn.Sequential(nn.Linear(config.level_features, d), nn.SiLU(), nn.Linear(d, d))
        self.clean = nn.Parameter(torch.zeros(d))  # stands in for the level of clean tokens
        self.gaze = nn.Linear(3, d)
        self.emotion_table = nn.Embedding(config.num_emotions, config.emotion_dim)
        self.emotion = zero_linear(config.emotion_dim, d)
        # zero-initialised, so a model fine-tuned with it starts as the one without
        self.past_level = zero_linear(config.level_features, d) if config.past_conditioning else None

    def forward(self, tokens: Tokens) -> Tensor:
        x = self.latent(tokens.latent) + self.audio(tokens.audio)
        clean = self.clean
        if self.past_level is not None:
            clean = clean + self.past_level(self.level_fourier(tokens.level))
        return x + torch.where(tokens.clean[:, None], clean, self.noisy_extras(tokens))

    def level_fourier(self, level: Tensor) -> Tensor:
        angles = level[..., None] * self.level_freqs
        return torch.cat([angles.cos(), angles.sin()], dim=-1)

    def noisy_extras(self, tokens: Tokens) -> Tensor:
        level = self.level(self.level_fourier(tokens.level))
        c = tokens.cond
        present = c.gaze_present[..., None]
        gaze = self.gaze(torch.cat([c.gaze * present, present], dim=-1))
        emotion = self.emotion(self.emotion_table(c.emotion) * c.intensity[..., None])
        return level + gaze + emotion


class Denoiser(nn.Module):
    """`forward(tokens, cache) -> (v prediction (B, n, latent), new keys, new values)`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed = TokenEmbedding(config)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.latent_size)
        self._layouts: dict[tuple, tuple] = {}  # streaming layouts, see positions_and_mask

    def forward(self, tokens: Tokens, cache: KVCache | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        x = self.embed(tokens)
        cache = cache or KVCache.empty(self.config, x.shape[0], x)
        rotary, mask = self.positions_and_mask(tokens, cache.length)
        keys, values = [], []
        for block, past_k, past_v in zip(self.blocks, cache.keys, cache.values):
            x, k, v = block(x, past_k, past_v, rotary, mask)
            keys.append(k)
            values.append(v)
        return self.head(self.norm(x)), torch.stack(keys), torch.stack(values)

    def positions_and_mask(self, tokens: Tokens, cached: int):
        """Rotary tables for [cache, tokens] keys (relative to the oldest) and the mask.

        They depend only on the tokens' layout relative to the cache, which a stream repeats
        every frame, so the few-token layouts of streaming calls are computed once."""
        if tokens.frame.shape[0] > _MEMO_TOKENS or torch.is_grad_enabled():
            return self.layout(tokens.frame, tokens.clean, cached)
        frame = tokens.frame.tolist()
        key = (cached, tuple(f - frame[0] for f in frame), tuple(tokens.clean.tolist()),
               tokens.frame.device, self.config.window_frames)
        if key not in self._layouts:
            self._layouts[key] = self.layout(tokens.frame, tokens.clean, cached)
        return self._layouts[key]

    def layout(self, frame: Tensor, clean: Tensor, cached: int):
        start = frame.min() - cached  # the cache holds the frames just before
        cache_frames = torch.arange(cached, device=frame.device) + start
        k_frame = torch.cat([cache_frames, frame])
        rotary = rotary_tables(k_frame - start, self.config.head_dim)
        if not self.config.causal:
            return rotary, None
        n = frame.shape[0]
        k_clean = torch.cat([torch.ones_like(cache_frames, dtype=torch.bool), clean])
        k_is_q = torch.arange(cached + n, device=k_frame.device)[None, :] == (
            torch.arange(n, device=k_frame.device)[:, None] + cached)
        mask = attention_mask(frame, clean, k_frame, k_clean, k_is_q, self.config.window_frames)
        return rotary, mask

    def forward_sequence(self, noisy: Tensor, level: Tensor, audio: Tensor, cond: Conditions,
                         clean: Tensor | None = None, clean_level: Tensor | None = None
                         ) -> Tensor:
        """v predictions (B, T, latent) for every frame of a clip at once (training, offline).

        Causal models see `clean` (the fixed past, e.g. the data latents) as a second token
        stream, at corruption `clean_level` (B, T) (default: the config's `past_level`); the
        offline baseline denoises all frames jointly and ignores both.
        """
        frames = torch.arange(noisy.shape[1], device=noisy.device)
        noisy_tokens = Tokens(noisy, audio, level, cond, frames, torch.zeros_like(frames).bool())
        if not self.config.causal:
            return self(noisy_tokens)[0]
        if clean_level is None:
            clean_level = torch.full_like(level, self.config.past_level)
        both = Tokens(torch.cat([clean, noisy], 1), torch.cat([audio, audio], 1),
                      torch.cat([clean_level, level], 1), cond.cat(cond), frames.repeat(2),
                      torch.cat([torch.ones_like(noisy_tokens.clean), noisy_tokens.clean]))
        return self(both)[0][:, noisy.shape[1]:]


def keep_clean(tokens: Tokens, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """The keys and values of the clean tokens only: what a cache may store."""
    index = tokens.clean.nonzero().squeeze(1)
    return keys.index_select(3, index), values.index_select(3, index)

