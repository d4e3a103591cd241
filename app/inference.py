"""Whole-clip inference: audio in, the face track the streaming model makes for it.

The clip runs through the same `step` the live app calls every 20 ms (`animate_clip` is a
loop over it), so what a rendered video shows by default is exactly what a listener would
see live. A file is not live, though: `animate_offline` runs the offline baseline instead,
which hears the whole clip at once (look-ahead included), for `render` and `animate`
with `--model offline`.
"""

from dataclasses import dataclass

import numpy as np
import torch

from app.audio.contract import FRAME_RATE_HZ, SAMPLES_PER_FRAME
from app.audio.features import LogMel
from app.avatar.emotions import EMOTIONS, check_emotion
from app.avatar.showcase import ShowcaseFrame
from app.avatar.texture_controls import TextureControls
from app.checkpoints import ModelParts
from app.errors import LivefaceError
from app.model.animator import Animator, animate_clip, generate_offline
from app.model.denoiser import Conditions


@dataclass(frozen=True)
class FaceTrack:
    """Per animation frame (50 fps): rig vectors and texture controls."""

    rig: np.ndarray  # (T, RIG_SIZE)
    wrinkle: np.ndarray  # (T, NUM_REGIONS)
    flush: np.ndarray  # (T, NUM_REGIONS)

    @property
    def frames(self) -> int:
        return int(self.rig.shape[0])


def animate_audio(animator: Animator, audio: np.ndarray, emotion: str = "neutral",
                  intensity: float = 0.0, seed: int = 0, steps: int = 1) -> FaceTrack:
    """The student's (steps=1) or teacher's (steps=K) face track for a 16 kHz clip."""
    samples, cond, noise = _clip_inputs(audio, emotion, intensity, seed,
                                        animator.config.latent_size)
    with torch.no_grad():
        frame = animate_clip(animator.eval(), samples, cond, noise, steps=steps)
    return FaceTrack(*(x[0].numpy() for x in (frame.rig, frame.wrinkle, frame.flush)))


def animate_offline(parts: ModelParts, audio: np.ndarray, emotion: str = "neutral",
                    intensity: float = 0.0, seed: int = 0) -> FaceTrack:
    """The offline baseline's face track for a 16 kHz clip: its K DDIM steps over the
    whole clip at once."""
    config = parts.config
    if config.causal:
        raise LivefaceError("this bundle is a streaming model; animate it with animate_audio.")
    samples, cond, noise = _clip_inputs(audio, emotion, intensity, seed, config.latent_size)
    frames = noise.shape[1]
    padded = torch.zeros(1, frames * SAMPLES_PER_FRAME)
    padded[:, : samples.shape[-1]] = samples
    log_mel = LogMel(config.mel_mean, config.mel_std, config.mel_log_floor)
    with torch.no_grad():
        z = generate_offline(log_mel, parts.encoder.eval(), parts.denoiser.eval(), padded, cond,
                             noise, config.sampling_steps)
        decoded = parts.codec.decode(z * config.latent_std)
    return FaceTrack(*(x[0].numpy() for x in (decoded.rig, decoded.wrinkle, decoded.flush)))


def _clip_inputs(audio: np.ndarray, emotion: str, intensity: float, seed: int,
                 latent_size: int) -> tuple[torch.Tensor, Conditions, torch.Tensor]:
    """The samples (1, N), the conditions asked for and the seeded starting noise."""
    check_emotion(emotion, intensity)
    samples = torch.as_tensor(np.asarray(audio, np.float32)).reshape(1, -1)
    frames = -(-samples.shape[-1] // SAMPLES_PER_FRAME)
    cond = Conditions.absent(1, frames, samples)
    cond = Conditions(cond.gaze, cond.gaze_present,
                      torch.full_like(cond.emotion, EMOTIONS.index(emotion)),
                      torch.full_like(cond.intensity, intensity))
    generator = torch.Generator().manual_seed(seed)
    return samples, cond, torch.randn(1, frames, latent_size, generator=generator)


def video_frames(track: FaceTrack, fps: float, label: str = "") -> list[ShowcaseFrame]:
    """The track resampled to a video rate by linear interpolation.

    Animation frame t stands for the middle of its 20 ms block, (t + 0.5) / 50 s.
    """
    count = int(np.floor(track.frames / FRAME_RATE_HZ * fps))
    times = (np.arange(count) + 0.5) / fps
    position = np.clip(times * FRAME_RATE_HZ - 0.5, 0.0, track.frames - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, track.frames - 1)
    w = (position - low)[:, None].astype(np.float32)

    def at(values: np.ndarray) -> np.ndarray:
        return (1.0 - w) * values[low] + w * values[high]

    rig, wrinkle, flush = at(track.rig), at(track.wrinkle), at(track.flush)
    return [ShowcaseFrame(rig[i], TextureControls(wrinkle[i], flush[i]), label)
            for i in range(count)]
