"""The in-memory avatar every renderer draws: plain arrays, no GPU and no file format.

`app.avatar.gltf` loads any glTF 2.0 avatar into these types; `app.avatar.build_default`
makes the shipped default one. Conventions (glTF's own): metres, +Y up, the face looks
towards +Z, so the avatar's left is +X.

Blendshape deltas are stored per *channel* of the avatar. For ARKit heads the channels are
the 52 ARKit targets in rig order, zero where a part has no such target, so the renderer
indexes them with the rig vector directly. A VRM avatar's channels are its expressions
instead (app.avatar.vrm), with `drive` turning a rig vector into their weights.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from app.avatar.rig import ARKIT_NAMES, NUM_BLENDSHAPES


class PartRole(str, Enum):
    """What a mesh part is, which decides how it moves and how it is shaded."""

    SKIN = "skin"
    EYE_LEFT = "eye_left"  # the avatar's left eye (+X side); rotates with gaze
    EYE_RIGHT = "eye_right"
    TEETH = "teeth"
    TONGUE = "tongue"
    OTHER = "other"  # hair, lashes, accessories: follow the head, shaded plainly


@dataclass(frozen=True)
class Material:
    """A metallic-roughness material reduced to what the shaders use."""

    name: str
    base_color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    roughness: float = 0.5
    base_color_texture: np.ndarray | None = None  # (H, W, 4) uint8, sRGB
    normal_texture: np.ndarray | None = None  # (H, W, 4) uint8, tangent space
    double_sided: bool = False
    alpha_mode: str = "OPAQUE"  # glTF's OPAQUE, MASK (cut out below alpha_cutoff) or BLEND
    alpha_cutoff: float = 0.5
    toon: bool = False  # MToon or unlit: lit base colour, a toon step to shade_color, no tone map
    shade_color: tuple[float, float, float] = (1.0, 1.0, 1.0)  # linear; multiplies the shaded side
    outline_width: float = 0.0  # MToon outline: metres, or screen heights when outline_screen
    outline_screen: bool = False
    outline_color: tuple[float, float, float] = (0.0, 0.0, 0.0)  # linear
    outline_lighting_mix: float = 0.0  # 1: the outline colour times the surface's lit colour


@dataclass(frozen=True)
class MeshPart:
    """One drawable piece of the head with its own material and role."""

    name: str
    role: PartRole
    material: Material
    positions: np.ndarray  # (V, 3) float32, metres, avatar space
    normals: np.ndarray  # (V, 3) float32, unit
    uvs: np.ndarray  # (V, 2) float32, glTF convention (origin top-left)
    indices: np.ndarray  # (T, 3) uint32, counter-clockwise front faces
    morph_positions: np.ndarray  # (channels, V, 3) float32 deltas, in Avatar.channels order
    morph_normals: np.ndarray  # (channels, V, 3) float32 deltas
    regions: np.ndarray  # (V,) float32 texture-control region index, -1 for none
    tangents: np.ndarray | None = None  # (V, 4) float32, when the asset has a normal map
    head_weights: np.ndarray | None = None  # (V,) float32 share of the head's pose; None: all

    @property
    def vertex_count(self) -> int:
        return int(self.positions.shape[0])

    @property
    def triangle_count(self) -> int:
        return int(self.indices.shape[0])


@dataclass(frozen=True)
class Avatar:
    """A head ready to pose: its parts, the head pivot and each eye's rotation centre."""

    name: str
    parts: tuple[MeshPart, ...]
    neck_pivot: np.ndarray  # (3,) head rotation centre, metres
    eye_centers: dict[PartRole, np.ndarray] = field(default_factory=dict)  # role -> (3,)
    target_names: tuple[str, ...] = ARKIT_NAMES  # ARKit targets it has (VRM: that reach it)
    channels: tuple[str, ...] = ARKIT_NAMES  # what each row of the parts' morph deltas is
    drive: Callable[[np.ndarray], np.ndarray] | None = None  # rig -> channel weights; None: ARKit
    head_bounds: tuple[np.ndarray, np.ndarray] | None = None  # what cameras frame, when not all
    gaze_gain: tuple[float, float] = (1.0, 1.0)  # eye turn per gaze angle (yaw, pitch)
    vrm: dict | None = None  # what a VRM file declares and how it is driven, for `avatar info`

    @property
    def vertex_count(self) -> int:
        return sum(p.vertex_count for p in self.parts)

    @property
    def triangle_count(self) -> int:
        return sum(p.triangle_count for p in self.parts)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned (min, max) corners of the rest pose, metres."""
        points = np.concatenate([p.positions for p in self.parts])
        return points.min(axis=0), points.max(axis=0)

    def frame_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The (min, max) corners a camera should frame: the head of a full-body avatar."""
        return self.head_bounds if self.head_bounds is not None else self.bounds()

    def channel_weights(self, rig: np.ndarray) -> np.ndarray:
        """Morph weights, one per channel, for a (clamped) rig vector."""
        if self.drive is None:
            return np.asarray(rig[:NUM_BLENDSHAPES], np.float32)
        return self.drive(rig)

    def part(self, role: PartRole) -> MeshPart | None:
        """The first part with this role, if any."""
        return next((p for p in self.parts if p.role is role), None)


def empty_morphs(vertex_count: int) -> np.ndarray:
    """All-zero deltas for a part without blendshapes."""
    return np.zeros((NUM_BLENDSHAPES, vertex_count, 3), dtype=np.float32)
