"""A lip-vertex loss: the denoisers' latent estimates judged where the metrics judge them.

The diffusion loss weighs all 32 latent dimensions alike, so head turns, blinks and brows
(which audio barely predicts) take as much of the model's effort as the lips. This loss
decodes the estimate with the frozen codec, poses the default avatar's lip vertices with
linear blendshapes (as `FaceGeometry.skin_vertices` does) and takes the mean squared
distance to the reference's lip vertices, in cm² (so its size is near the diffusion loss's).
"""

import torch
from torch import Tensor, nn

from app.avatar.landmarks import FaceGeometry
from app.avatar.rig import BLENDSHAPE_SLICE
from app.model.codec import ExpressionCodec

CM_PER_M = 100.0


class LipVertexLoss(nn.Module):
    def __init__(self, codec: ExpressionCodec, geometry: FaceGeometry, latent_std: float):
        super().__init__()
        self.codec, self.latent_std = codec, latent_std
        lips = geometry.lip_vertices
        deltas = torch.from_numpy(geometry.deltas[:, lips].reshape(geometry.deltas.shape[0], -1))
        self.register_buffer("deltas", deltas * CM_PER_M, persistent=False)

    def lip_offsets(self, rig: Tensor) -> Tensor:
        """(..., 57) rig -> (..., lips * 3) lip-vertex offsets from rest, cm."""
        return rig[..., BLENDSHAPE_SLICE] @ self.deltas

    def forward(self, latent: Tensor, rig: Tensor) -> Tensor:
        """latent (B, T, 32) at diffusion scale against the reference rig (B, T, 57)."""
        decoded = self.codec.decode(latent * self.latent_std).rig
        error = (self.lip_offsets(decoded) - self.lip_offsets(rig)).view(
            *rig.shape[:-1], -1, 3)
        return error.square().sum(-1).mean()
