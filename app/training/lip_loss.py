"""A lip-vertex loss: the denoisers' latent estimates judged where the metrics judge them.

The diffusion loss weighs all 32 latent dimensions alike, so head turns, blinks and brows
(which audio barely predicts) take as much of the model's effort as the lips. This loss
decodes the estimate with the frozen codec, poses the default avatar's lip vertices with
linear blendshapes (as `FaceGeometry.skin_vertices` does) and takes the mean squared
distance to the reference's lip vertices, in cm² (so its size is near the diffusion loss's).

Its contact term (as lip-contact losses in speech-driven animation do) looks only at the
frames where the reference's lips touch: p/b/m closures and closed pauses. A mean-squared
loss lets an unsure model leave the lips a few millimetres apart there, which still reads
as open; the contact term charges every millimetre of gap the estimate leaves on the centre
line (the gap the metrics measure), so closing becomes the cheaper guess. Its opening term
is the counterpart: on frames where the reference's lips are apart (vowels, releases) it
charges an estimate that shuts them, before it reads as closed (a false closure), so that
closing is cheaper only where the audio says it should be.
"""

import torch
from torch import Tensor, nn

from app.avatar.landmarks import FaceGeometry
from app.avatar.rig import BLENDSHAPE_SLICE
from app.eval.metrics import CLOSED_GAP_MM
from app.model.codec import ExpressionCodec

CM_PER_M = 100.0
CLOSED_GAP_CM = CLOSED_GAP_MM / 10
APART_GAP_CM = 2 * CLOSED_GAP_CM  # the opening term's frames, and the gap it asks of them


class LipVertexLoss(nn.Module):
    def __init__(self, codec: ExpressionCodec, geometry: FaceGeometry, latent_std: float):
        super().__init__()
        self.codec, self.latent_std = codec, latent_std
        lips = geometry.lip_vertices
        deltas = torch.from_numpy(geometry.deltas[:, lips].reshape(geometry.deltas.shape[0], -1))
        self.register_buffer("deltas", deltas * CM_PER_M, persistent=False)
        centres = (("upper", geometry.upper_lip_centre), ("lower", geometry.lower_lip_centre))
        for name, idx in centres:
            self.register_buffer(f"{name}_rest",
                                 torch.from_numpy(geometry.rest[idx, 1] * CM_PER_M),
                                 persistent=False)
            self.register_buffer(f"{name}_deltas",
                                 torch.from_numpy(geometry.deltas[:, idx, 1] * CM_PER_M),
                                 persistent=False)

    def lip_offsets(self, rig: Tensor) -> Tensor:
        """(..., 57) rig -> (..., lips * 3) lip-vertex offsets from rest, cm."""
        return rig[..., BLENDSHAPE_SLICE] @ self.deltas

    def lip_gap(self, rig: Tensor) -> Tensor:
        """(..., 57) rig -> (...) centre-line lip gap in cm, as `FaceGeometry.lip_gap_mm`."""
        weights = rig[..., BLENDSHAPE_SLICE]
        upper = (self.upper_rest + weights @ self.upper_deltas).amin(-1)
        lower = (self.lower_rest + weights @ self.lower_deltas).amax(-1)
        return upper - lower

    def decode(self, latent: Tensor) -> Tensor:
        """latent (..., 32) at diffusion scale -> (..., 57) rig, through the frozen codec."""
        return self.codec.decode(latent * self.latent_std).rig

    def forward(self, latent: Tensor, rig: Tensor) -> dict[str, Tensor]:
        """latent (B, T, 32) at diffusion scale against the reference rig (B, T, 57):
        {"lips": lip-vertex loss, "contact": contact term, "opening": opening term} (cm²)."""
        decoded = self.decode(latent)
        error = (self.lip_offsets(decoded) - self.lip_offsets(rig)).view(
            *rig.shape[:-1], -1, 3)
        return {"lips": error.square().sum(-1).mean(), **self.gap_terms(decoded, rig)}

    def gap_terms(self, decoded: Tensor, rig: Tensor) -> dict[str, Tensor]:
        """{"contact", "opening"} from one lip-gap computation of each track."""
        ref_gap, gap = self.lip_gap(rig), self.lip_gap(decoded)
        return {"contact": _masked_mean(torch.relu(gap - ref_gap.clamp(min=0.0)),
                                        ref_gap < CLOSED_GAP_CM),
                "opening": _masked_mean(torch.relu(APART_GAP_CM - gap),
                                        ref_gap >= APART_GAP_CM)}

    def contact(self, decoded: Tensor, rig: Tensor) -> Tensor:
        """Mean squared excess gap over the frames where the reference's lips touch (zero
        when there are none): a gap wider than the reference's, or than zero where it
        presses."""
        return self.gap_terms(decoded, rig)["contact"]

    def opening(self, decoded: Tensor, rig: Tensor) -> Tensor:
        """Mean squared shortfall over the frames where the reference's lips are apart (at
        least 2 mm; zero when there are none): the gap the estimate leaves under 2 mm."""
        return self.gap_terms(decoded, rig)["opening"]


def _masked_mean(error: Tensor, frames: Tensor) -> Tensor:
    """Mean of error² over the chosen frames (zero when none is chosen)."""
    weights = frames.to(error.dtype)
    return (error.square() * weights).sum() / weights.sum().clamp(min=1.0)
