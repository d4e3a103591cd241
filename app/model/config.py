"""The model's sizes and constants in one typed dataclass.

A checkpoint is data: the weights in safetensors and `ModelConfig.to_dict()` as JSON beside
them (or in the file's metadata). Values are numbers, booleans and tuples of numbers, never
strings that code has to parse.
"""

from dataclasses import asdict, dataclass, fields, replace

from app.audio.contract import MEL_BINS
from app.avatar.emotions import EMOTIONS
from app.avatar.rig import RIG_SIZE
from app.avatar.texture_controls import NUM_REGIONS

LATENT_SIZE = 32  # the contract's latent expression code, floats per frame
GAZE_INPUTS = 3  # gaze yaw, gaze pitch (rad) and a "present" flag
# the encoder's and denoiser's GELU: the tanh form, within 5e-4 of the exact (erf) one and a
# third of its cost per call at streaming sizes on a CPU
GELU_APPROXIMATION = "tanh"


@dataclass(frozen=True)
class ModelConfig:
    # log-mel front end: a fixed floor and fixed global standardisation (never per clip)
    mel_bins: int = MEL_BINS
    mel_log_floor: float = 1e-8
    mel_mean: float = -4.0  # rough speech statistics; training refits both on its data
    mel_std: float = 4.0

    # expression codec: rig <-> latent, per frame
    rig_size: int = RIG_SIZE
    latent_size: int = LATENT_SIZE
    num_regions: int = NUM_REGIONS
    codec_hidden: tuple[int, ...] = (256, 256)

    # causal audio encoder: 100 Hz mel -> 50 Hz features
    audio_channels: int = 128
    audio_first_kernel: int = 4  # mel frames seen by the strided input layer
    audio_kernel: int = 3
    audio_dilations: tuple[int, ...] = (1, 2, 4, 8)  # receptive field ~0.6 s

    # denoiser transformer
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: int = 4
    window_frames: int = 64  # w: frame t attends to frames [t - w, t] (1.28 s)
    causal: bool = True  # False: the offline baseline, bidirectional over the whole clip
    # Audio heard past each frame, in frames of 20 ms: the latent of frame t is sampled once
    # the audio through frame t + lookahead_frames has arrived (0 for the live student, so a
    # frame never waits; a larger value trades that much latency for a surer mouth)
    lookahead_frames: int = 0
    num_emotions: int = len(EMOTIONS)
    emotion_dim: int = 32
    level_features: int = 64  # Fourier features of the diffusion time
    # The clean past's corruption level as a condition (off in older checkpoints): training
    # noises the past to a known level and tells the model; streaming presents its own
    # outputs at `past_level`, how far the model should trust them (0 = exactly).
    past_conditioning: bool = False
    past_level: float = 0.0

    # The lip-contact head (app/model/lip_contact.py; 0 = none, as in older bundles): it
    # reads the audio encoder's last `contact_context` features and closes the lips where
    # its p/b/m probability exceeds `contact_close`, parts shut lips where its other-speech
    # probability exceeds `contact_open`
    contact_context: int = 0
    contact_hidden: int = 128
    contact_close: float = 0.5
    contact_open: float = 0.5
    # frames after a p/b/m the head was trained to tell apart as the lips' release (a class
    # of its own in training, answered as other speech; 0: no such class, as in older bundles)
    contact_release: int = 0

    # training-time condition dropout (also what classifier-free guidance relies on)
    gaze_dropout: float = 0.5  # most users have no eye cameras
    emotion_dropout: float = 0.1

    # diffusion: cosine schedule on t in [0, 1], v-prediction
    sampling_steps: int = 32  # K, the teacher's deterministic DDIM steps
    guidance_scale: float = 1.0  # teacher's classifier-free guidance (1 = none)
    # Sampling temperature: the starting noise is scaled by this (1 = the plain sampler;
    # lower trades variety for faces nearer the most likely one, as truncation does)
    noise_scale: float = 1.0
    latent_std: float = 1.0  # codec latents are divided by this before diffusion

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        values = {key: tuple(value) if isinstance(value, list) else value
                  for key, value in data.items()}
        return cls(**values)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def __post_init__(self):
        if self.d_model % self.n_heads or self.head_dim % 2:
            raise ValueError("d_model must split into heads of an even size (rotary pairs)")
        if self.lookahead_frames < 0:
            raise ValueError("lookahead_frames must be 0 or more")
        if self.contact_context < 0:
            raise ValueError("contact_context must be 0 (no contact head) or more")
        if self.contact_release < 0:
            raise ValueError("contact_release must be 0 (no release class) or more")
        if self.audio_first_kernel < 2:
            raise ValueError("the strided input layer needs a kernel of at least 2 mel frames")


def tiny_config(**overrides) -> ModelConfig:
    """A few-thousand-parameter model for tests."""
    tiny = ModelConfig(codec_hidden=(32,), audio_channels=16, audio_dilations=(1, 2),
                       d_model=32, n_layers=2, n_heads=2, window_frames=6, emotion_dim=8,
                       level_features=16, sampling_steps=4)
    return replace(tiny, **overrides)
