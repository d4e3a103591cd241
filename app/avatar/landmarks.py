"""Face measures on an avatar: which vertices are lips, upper face and mouth corners, and
how far apart the lips are in any pose.

Vertex sets are found once from the rest mesh and from how the ARKit targets move it, so
they work on any avatar with ARKit-named targets, not only the default head:

- **lips**: skin vertices that the lip targets (mouthRollUpper, mouthRollLower,
  mouthFunnel, mouthPucker) move by at least 30 % of that target's largest move; this
  includes the inner lip surface.
- **lower / upper lip**: lip vertices that jawOpen carries down by more than half of its
  largest move are lower lip; those it barely moves (under 20 %) are upper lip.
- **centre line**: lip vertices within a few millimetres of the face's mid plane (x = 0);
  the lip gap is measured between the centre-line upper and lower lip sets.
- **mouth corners**: on each side the vertex that mouthLeft/Right and mouthDimple move most.
- **upper face**: front-half skin vertices above the nose tip (used by FDD).

Poses are linear blendshapes in head space: rest + weights @ deltas. Head rotation and
gaze are ignored on purpose, since metrics compare faces, not where the head points.
Distances are reported in millimetres; the mesh is in metres (glTF).
"""

from dataclasses import dataclass

import numpy as np

from app.avatar.model import Avatar, MeshPart, PartRole
from app.avatar.rig import BLENDSHAPE_SLICE, RIG_INDEX, RIG_SIZE
from app.errors import LivefaceError

MM_PER_M = 1000.0
_LIP_TARGETS = ("mouthRollUpper", "mouthRollLower", "mouthFunnel", "mouthPucker")
_LIP_SHARE = 0.3  # a lip target moves a lip vertex by >= 30 % of its largest move
_LOWER_JAW_SHARE = 0.5  # jawOpen carries lower-lip vertices by > 50 % of its largest move
_UPPER_JAW_SHARE = 0.2  # and upper-lip vertices by < 20 %
_CENTRE_HALF_WIDTH_M = 0.0025  # the centre line: |x| below 2.5 mm


def _move_share(part: MeshPart, name: str) -> np.ndarray:
    """How far one target moves each vertex, as a share of its largest move (V,)."""
    norms = np.linalg.norm(part.morph_positions[RIG_INDEX[name]], axis=1)
    peak = norms.max()
    return norms / peak if peak > 0 else norms


def _skin_part(avatar: Avatar) -> MeshPart:
    skins = [p for p in avatar.parts if p.role is PartRole.SKIN]
    if not skins:
        raise LivefaceError(f"avatar '{avatar.name}' has no skin part; face measures need one.")
    # The face is the skin part that jawOpen moves most.
    return max(skins, key=lambda p: float(np.abs(p.morph_positions[RIG_INDEX["jawOpen"]]).max()))


def _corner(part: MeshPart, side: str) -> int:
    moves = _move_share(part, f"mouth{side}") + _move_share(part, f"mouthDimple{side}")
    return int(np.argmax(moves))


@dataclass(frozen=True)
class FaceGeometry:
    """The skin mesh of one avatar plus the vertex sets the face measures use."""

    rest: np.ndarray  # (V, 3) metres, skin rest positions
    deltas: np.ndarray  # (52, V, 3) metres, blendshape deltas in rig order
    lip_vertices: np.ndarray  # indices into rest
    upper_lip_vertices: np.ndarray
    lower_lip_vertices: np.ndarray
    upper_lip_centre: np.ndarray  # upper-lip vertices on the centre line
    lower_lip_centre: np.ndarray
    upper_face_vertices: np.ndarray
    mouth_corners: np.ndarray  # (2,) indices: avatar's left (+X), then right

    @classmethod
    def from_avatar(cls, avatar: Avatar) -> "FaceGeometry":
        part = _skin_part(avatar)
        rest = np.asarray(part.positions, dtype=np.float32)
        lip_share = np.maximum.reduce([_move_share(part, n) for n in _LIP_TARGETS])
        jaw_share = _move_share(part, "jawOpen")
        lips = lip_share >= _LIP_SHARE
        lower = lips & (jaw_share > _LOWER_JAW_SHARE)
        upper = lips & (jaw_share < _UPPER_JAW_SHARE)
        centre = np.abs(rest[:, 0]) < _CENTRE_HALF_WIDTH_M
        if not (lower & centre).any() or not (upper & centre).any():
            raise LivefaceError(
                f"avatar '{avatar.name}' has no lips that its jawOpen and lip targets move; "
                "face measures need working ARKit mouth targets."
            )
        nose_tip = rest[np.argmax(rest[:, 2])]
        upper_face = (rest[:, 1] > nose_tip[1]) & (rest[:, 2] > float(avatar.neck_pivot[2]))
        return cls(
            rest=rest,
            deltas=np.asarray(part.morph_positions, dtype=np.float32),
            lip_vertices=np.flatnonzero(lips),
            upper_lip_vertices=np.flatnonzero(upper),
            lower_lip_vertices=np.flatnonzero(lower),
            upper_lip_centre=np.flatnonzero(upper & centre),
            lower_lip_centre=np.flatnonzero(lower & centre),
            upper_face_vertices=np.flatnonzero(upper_face),
            mouth_corners=np.array([_corner(part, "Left"), _corner(part, "Right")]),
        )

    def skin_vertices(self, rig_batch: np.ndarray,
                      vertices: np.ndarray | None = None) -> np.ndarray:
        """Posed skin positions (T, V, 3) in metres for rig frames (T, 57) or one (57,).

        Linear blendshapes in head space (head rotation not applied). `vertices` limits
        the result to some vertex indices, which keeps long clips cheap.
        """
        weights = _weights(rig_batch)
        rest = self.rest if vertices is None else self.rest[vertices]
        deltas = self.deltas if vertices is None else self.deltas[:, vertices]
        flat = weights @ deltas.reshape(deltas.shape[0], -1)
        return rest[None] + flat.reshape(weights.shape[0], *rest.shape)

    def lip_gap_mm(self, rig_batch: np.ndarray) -> np.ndarray:
        """Vertical gap (T,) between the upper lip's lowest and the lower lip's highest
        point on the centre line, in mm. Zero or negative when the lips touch or press."""
        upper = self.skin_vertices(rig_batch, self.upper_lip_centre)[..., 1].min(axis=1)
        lower = self.skin_vertices(rig_batch, self.lower_lip_centre)[..., 1].max(axis=1)
        return (upper - lower) * MM_PER_M

    def lip_aperture_mm(self, rig_batch: np.ndarray) -> np.ndarray:
        """Vertical distance (T,) between the centroids of the centre-line upper and lower
        lip sets, in mm. Unlike the gap it keeps changing while the lips touch (pressing,
        rolling), which makes it a smooth signal for correlation."""
        upper = self.skin_vertices(rig_batch, self.upper_lip_centre)[..., 1].mean(axis=1)
        lower = self.skin_vertices(rig_batch, self.lower_lip_centre)[..., 1].mean(axis=1)
        return (upper - lower) * MM_PER_M

    def lip_width_mm(self, rig_batch: np.ndarray) -> np.ndarray:
        """Distance (T,) between the two mouth corners, in mm."""
        corners = self.skin_vertices(rig_batch, self.mouth_corners)
        return np.linalg.norm(corners[:, 0] - corners[:, 1], axis=-1) * MM_PER_M


def _weights(rig_batch: np.ndarray) -> np.ndarray:
    rig = np.asarray(rig_batch, dtype=np.float32)
    if rig.ndim == 1:
        rig = rig[None]
    if rig.ndim != 2 or rig.shape[1] != RIG_SIZE:
        raise LivefaceError(f"rig frames must have shape (T, {RIG_SIZE}); got {rig.shape}.")
    return rig[:, BLENDSHAPE_SLICE]
