"""What a VRM file's extension declares, read into one vocabulary: VRM 1.0's.

`VRMC_vrm` (VRM 1.0) and `VRM` (VRM 0.x) say the same things differently: 0.x names its
expressions "blend shape groups" with presets a/i/u/e/o, joy, sorrow..., binds morph
targets by mesh with weights 0..100, lists humanoid bones as an array and keeps MToon
settings in `materialProperties`; 1.0 binds by node with weights 0..1. Both are read here
into `VrmDeclared`; nothing is built. Fields of the wrong type raise TypeError, ValueError
or KeyError, which the glTF loader turns into a clear error naming the file.
"""

from dataclasses import dataclass, field

import numpy as np
import pygltflib as gl

from app.avatar.gltf_data import GltfData
from app.avatar.vrm_mapping import LookAtRanges

# VRM 0.x preset names -> the VRM 1.0 names used everywhere here.
_PRESETS_0X = {
    "a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh",
    "blink": "blink", "blink_l": "blinkLeft", "blink_r": "blinkRight",
    "joy": "happy", "angry": "angry", "sorrow": "sad", "fun": "relaxed", "surprised": "surprised",
    "lookup": "lookUp", "lookdown": "lookDown", "lookleft": "lookLeft", "lookright": "lookRight",
    "neutral": "neutral",
}
_OVERRIDE_KEYS = {"blink": "overrideBlink", "lookAt": "overrideLookAt", "mouth": "overrideMouth"}


@dataclass(frozen=True)
class Expression:
    name: str  # VRM 1.0 preset name, or the custom name
    binds: tuple[tuple[int, int, float], ...]  # (mesh index, morph target index, weight 0..1)
    is_binary: bool = False
    overrides: tuple[tuple[str, str], ...] = ()  # ("blink" | "lookAt" | "mouth", "block" | "blend")


@dataclass
class VrmDeclared:
    """What the VRM extension says, normalised to VRM 1.0's vocabulary."""

    version: str  # "0.x" or "1.0"
    meta: dict
    bones: dict[str, int]  # humanoid bone name -> node index
    expressions: list[Expression]
    look_at_type: str  # "bone" or "expression"
    look_at: LookAtRanges = field(default_factory=LookAtRanges)
    materials: dict[int, dict] = field(default_factory=dict)  # material index -> MToon hints
    eye_gain: tuple[float, float] = (1.0, 1.0)  # eye-bone turn per gaze angle: (yaw, pitch)


def vrm_version(doc: gl.GLTF2) -> str | None:
    """"1.0" for VRMC_vrm, "0.x" for VRM, None for a plain glTF file."""
    extensions = doc.extensions if isinstance(doc.extensions, dict) else {}
    if isinstance(extensions.get("VRMC_vrm"), dict):
        return "1.0"
    if isinstance(extensions.get("VRM"), dict):
        return "0.x"
    return None


def read_declared(data: GltfData) -> VrmDeclared:
    version = vrm_version(data.doc)
    if version == "1.0":
        return _declared_1(data, data.doc.extensions["VRMC_vrm"])
    return _declared_0(data, data.doc.extensions["VRM"])


def _declared_1(data: GltfData, ext: dict) -> VrmDeclared:
    bones = {name: int(b["node"]) for name, b in ext.get("humanoid", {}).get("humanBones", {}).items()}
    expressions = []
    groups = ext.get("expressions", {})
    for kind in ("preset", "custom"):
        for name, spec in (groups.get(kind) or {}).items():
            binds = tuple((_node_mesh(data, int(b["node"])), int(b["index"]), float(b.get("weight", 1.0)))
                          for b in spec.get("morphTargetBinds") or [])
            overrides = tuple((group, spec[key]) for group, key in _OVERRIDE_KEYS.items()
                              if spec.get(key) in ("block", "blend"))
            expressions.append(Expression(str(name), binds, bool(spec.get("isBinary", False)), overrides))
    look = ext.get("lookAt") or {}

    def range_map(key: str) -> tuple[float, float]:
        spec = look.get(key) or {}
        return max(float(spec.get("inputMaxValue", 90.0)), 1e-3), float(spec.get("outputScale", 1.0))

    ranges = LookAtRanges(*range_map("rangeMapHorizontalOuter"), *range_map("rangeMapVerticalUp"),
                          *range_map("rangeMapVerticalDown"))
    gain = _eye_gain([range_map(k) for k in ("rangeMapHorizontalOuter", "rangeMapHorizontalInner")],
                     [range_map(k) for k in ("rangeMapVerticalUp", "rangeMapVerticalDown")])
    materials = {}
    for index, mat in enumerate(data.doc.materials):
        mtoon = (mat.extensions or {}).get("VRMC_materials_mtoon")
        if isinstance(mtoon, dict):
            materials[index] = {"shade": tuple(float(c) for c in mtoon.get("shadeColorFactor", (1, 1, 1))[:3]),
                                **_outline_1(mtoon)}
    return VrmDeclared("1.0", dict(ext.get("meta") or {}), bones, expressions,
                       str(look.get("type", "bone")), ranges, materials, gain)


def _declared_0(data: GltfData, ext: dict) -> VrmDeclared:
    bones = {str(b["bone"]): int(b["node"]) for b in ext.get("humanoid", {}).get("humanBones", [])}
    expressions = []
    for group in (ext.get("blendShapeMaster") or {}).get("blendShapeGroups") or []:
        preset = str(group.get("presetName", "unknown")).lower()
        name = _PRESETS_0X.get(preset) or str(group.get("name", preset))
        binds = tuple((int(b["mesh"]), int(b["index"]), float(b.get("weight", 100.0)) / 100.0)
                      for b in group.get("binds") or [])
        expressions.append(Expression(name, binds, bool(group.get("isBinary", False))))
    first_person = ext.get("firstPerson") or {}

    def curve_range(key: str) -> tuple[float, float]:
        spec = first_person.get(key) or {}
        return max(float(spec.get("xRange", 90.0)), 1e-3), float(spec.get("yRange", 1.0))

    kind = str(first_person.get("lookAtTypeName", "Bone")).lower()
    ranges = LookAtRanges(*curve_range("lookAtHorizontalOuter"), *curve_range("lookAtVerticalUp"),
                          *curve_range("lookAtVerticalDown"))
    gain = _eye_gain([curve_range(k) for k in ("lookAtHorizontalOuter", "lookAtHorizontalInner")],
                     [curve_range(k) for k in ("lookAtVerticalUp", "lookAtVerticalDown")])
    materials = {}
    for index, props in enumerate(ext.get("materialProperties") or []):
        if isinstance(props, dict) and index < len(data.doc.materials):
            materials[index] = _mtoon_0(props)
    return VrmDeclared("0.x", dict(ext.get("meta") or {}), bones, expressions,
                       "expression" if kind == "blendshape" else "bone", ranges, materials, gain)


def _eye_gain(horizontal: list[tuple[float, float]], vertical: list[tuple[float, float]]):
    """(yaw, pitch) eye-bone degrees per degree of gaze, from look-at ranges given as
    (input degrees, output degrees) pairs; inner and outer (up and down) are averaged, as
    both eyes take one gaze here."""
    def mean_gain(pairs):
        return float(np.clip(np.mean([out / inp for inp, out in pairs]), 0.0, 2.0))

    return mean_gain(horizontal), mean_gain(vertical)


def _mtoon_0(props: dict) -> dict:
    """VRM 0.x material properties: shade colour (stored as display colour), blend mode,
    culling and outline."""
    from app.render.renderer import srgb_to_linear  # one sRGB formula for the project

    floats, vectors = props.get("floatProperties") or {}, props.get("vectorProperties") or {}
    hints = {}
    if "_ShadeColor" in vectors:
        hints["shade"] = srgb_to_linear([float(c) for c in vectors["_ShadeColor"][:3]])
    blend = int(floats.get("_BlendMode", 0))
    hints["alpha_mode"] = {1: "MASK", 2: "BLEND", 3: "BLEND"}.get(blend, "OPAQUE")
    hints["cutoff"] = float(floats.get("_Cutoff", 0.5))
    hints["double_sided"] = int(floats.get("_CullMode", 2)) == 0
    mode, width = int(floats.get("_OutlineWidthMode", 0)), float(floats.get("_OutlineWidth", 0.0))
    if mode in (1, 2) and width > 0:
        # MToon 0.x offsets world outlines by 0.01 x width metres, and screen ones by
        # 0.01 x width in clip space, where the screen's height spans 2.
        lit = int(floats.get("_OutlineColorMode", 0)) == 1
        mix = min(max(float(floats.get("_OutlineLightingMix", 1.0)), 0.0), 1.0) if lit else 0.0
        colour = srgb_to_linear([float(c) for c in vectors.get("_OutlineColor", (0, 0, 0))[:3]])
        hints["outline"] = (min(width * (0.01 if mode == 1 else 0.005), 0.05), mode == 2, colour, mix)
    return hints


def _outline_1(mtoon: dict) -> dict:
    """VRMC_materials_mtoon's outline: width in metres (world) or in screen heights (screen)."""
    mode, width = str(mtoon.get("outlineWidthMode", "none")), float(mtoon.get("outlineWidthFactor", 0.0))
    if mode not in ("worldCoordinates", "screenCoordinates") or width <= 0:
        return {}
    colour = tuple(float(c) for c in mtoon.get("outlineColorFactor", (0, 0, 0))[:3])
    mix = min(max(float(mtoon.get("outlineLightingMixFactor", 1.0)), 0.0), 1.0)
    return {"outline": (min(width, 0.05), mode == "screenCoordinates", colour, mix)}


def _node_mesh(data: GltfData, node: int) -> int:
    if not 0 <= node < len(data.doc.nodes) or data.doc.nodes[node].mesh is None:
        raise data.fail(f"an expression binds node {node}, which has no mesh")
    return int(data.doc.nodes[node].mesh)
