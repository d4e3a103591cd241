"""What voice enrolment learns: a voice adapter, and the student fine-tuned to one voice.

The audio encoder learnt what speech sounds like from many voices; one person's
microphone, room and vocal tract shift where their sounds land in the log-mel. The
adapter corrects that shift at both ends of the encoder:

    mel'      = mel * (1 + mel_scale) + mel_shift              (per mel band, 2 x 80)
    features' = features * (1 + feature_scale) + feature_shift  (per channel, 2 x C)

Starting at zero it is the identity. A shift alone moves the model along its trade of
closed p/b/m against shut vowels without telling them apart any better (measured: see
the README's voice section), so enrolment also fine-tunes the student's encoder and
denoiser, held near the shipped weights by an L2 anchor (`app.training.adapt`). A
`VoiceFit` holds all three; everything stays causal and per-frame, at the student's cost.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from app.model.audio_encoder import AudioEncoder, EncoderState
from app.model.config import ModelConfig
from app.model.denoiser import Denoiser


class VoiceAdapter(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.mel_scale = nn.Parameter(torch.zeros(config.mel_bins))
        self.mel_shift = nn.Parameter(torch.zeros(config.mel_bins))
        self.feature_scale = nn.Parameter(torch.zeros(config.audio_channels))
        self.feature_shift = nn.Parameter(torch.zeros(config.audio_channels))

    def mel(self, mel: Tensor) -> Tensor:
        """(..., 80) standardised log-mel -> the same, as the model's voices would give it."""
        return mel * (1 + self.mel_scale) + self.mel_shift

    def features(self, features: Tensor) -> Tensor:
        """(..., C) encoder features -> corrected features."""
        return features * (1 + self.feature_scale) + self.feature_shift

    def size(self) -> float:
        """Root mean square of its numbers: 0 for the identity."""
        values = torch.cat([p.detach().flatten() for p in self.parameters()])
        return float(values.square().mean().sqrt())


class AdaptedEncoder(nn.Module):
    """An `AudioEncoder` with a voice adapter around it, with the encoder's own interface
    (`initial_state`, `forward(mel, state) -> (features, state)`), so the streaming
    animator and the training code take it in the encoder's place."""

    def __init__(self, encoder: AudioEncoder, adapter: VoiceAdapter):
        super().__init__()
        self.encoder, self.adapter = encoder, adapter

    def initial_state(self, batch: int, like: Tensor) -> EncoderState:
        return self.encoder.initial_state(batch, like)

    def forward(self, mel: Tensor, state: EncoderState | None = None
                ) -> tuple[Tensor, EncoderState]:
        features, state = self.encoder(self.adapter.mel(mel), state)
        return self.adapter.features(features), state


@dataclass
class VoiceFit:
    """The adapter, and the student's encoder and denoiser as fine-tuned with it."""

    adapter: VoiceAdapter
    encoder: AudioEncoder
    denoiser: Denoiser

    def state_dict(self) -> dict[str, Tensor]:
        return {f"{name}.{key}": value.detach().contiguous()
                for name in ("adapter", "encoder", "denoiser")
                for key, value in getattr(self, name).state_dict().items()}

    def load_state_dict(self, tensors: dict[str, Tensor]) -> None:
        for name in ("adapter", "encoder", "denoiser"):
            prefix = f"{name}."
            getattr(self, name).load_state_dict(
                {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})

    def frozen(self) -> "VoiceFit":
        for module in (self.adapter, self.encoder, self.denoiser):
            module.eval().requires_grad_(False)
        return self
