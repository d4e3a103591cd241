"""Expression codec: the 57-float rig vector <-> the 32-float latent code, per frame.

The decoder also emits texture controls (wrinkle and flush per face region). Its outputs are
squashed by a sigmoid into the rig's ranges (RIG_MIN..RIG_MAX) and into 0..1 for the
texture controls, so no latent, however wild, can produce a face the renderer must reject.
Two small MLPs: decoding one frame is a few thousand multiply-adds.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from app.avatar.rig import NUM_BLENDSHAPES, RIG_MAX, RIG_MIN
from app.model.config import ModelConfig

# Blendshapes and texture controls rest at 0, the bottom of their range: start the fresh
# decoder's logits there (sigmoid(-4) = 0.018) so an untrained codec shows a calm face.
_REST_LOGIT = -4.0


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(size_in, size_out))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Decoded:
    rig: Tensor  # (..., 57) within RIG_MIN..RIG_MAX
    wrinkle: Tensor  # (..., 6) in 0..1
    flush: Tensor  # (..., 6) in 0..1


class ExpressionCodec(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = list(config.codec_hidden)
        self.num_regions = config.num_regions
        self.encoder = mlp([config.rig_size, *hidden, config.latent_size])
        self.decoder = mlp([config.latent_size, *hidden, config.rig_size + 2 * config.num_regions])
        self.register_buffer("rig_min", torch.from_numpy(RIG_MIN.copy()), persistent=False)
        self.register_buffer("rig_max", torch.from_numpy(RIG_MAX.copy()), persistent=False)
        self.register_buffer("rig_range", self.rig_max - self.rig_min, persistent=False)
        with torch.no_grad():
            out = self.decoder[-1]
            out.bias.zero_()
            out.bias[:NUM_BLENDSHAPES] = _REST_LOGIT
            out.bias[config.rig_size:] = _REST_LOGIT

    def encode(self, rig: Tensor) -> Tensor:
        """(..., 57) rig vectors -> (..., 32) latents."""
        unit = (rig - self.rig_min) / self.rig_range  # 0..1 inputs
        return self.encoder(unit * 2.0 - 1.0)

    def decode(self, latent: Tensor) -> Decoded:
        """(..., 32) latents -> rig vectors and texture controls, always within range."""
        squashed = torch.sigmoid(self.decoder(latent))  # every output in 0..1
        unit_rig, wrinkle, flush = squashed.split(
            [self.rig_min.shape[0], self.num_regions, self.num_regions], dim=-1)
        return Decoded(torch.addcmul(self.rig_min, self.rig_range, unit_rig), wrinkle, flush)
