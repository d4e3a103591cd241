"""How a rig vector drives a VRM avatar's expressions.

A "perfect sync" VRM has one expression (or morph target) per ARKit shape, and the rig's
52 weights drive those directly. Any other VRM has the VRM presets (visemes aa ih ou ee oh,
blinks, emotions, look-at); their weights come from the rig through the mapping kept as
data in assets/avatars/vrm-mapping.toml (its header says how to read it), and gaze turns
into lookUp/Down/Left/Right through the avatar's own look-at ranges.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.avatar.rig import GAZE_SLICE, NUM_BLENDSHAPES, RIG_INDEX, RIG_NAMES
from app.errors import LivefaceError

MAPPING_FILE = ("avatars", "vrm-mapping.toml")
LOOK_AT_NAMES = ("lookUp", "lookDown", "lookLeft", "lookRight")
# What an expression's overrideBlink / overrideLookAt / overrideMouth acts on (VRM 1.0).
OVERRIDDEN = {"blink": ("blink", "blinkLeft", "blinkRight"), "lookAt": LOOK_AT_NAMES,
              "mouth": ("aa", "ih", "ou", "ee", "oh")}


@dataclass(frozen=True)
class Term:
    """weight x the product of its factors; a factor is (value index, complemented)."""

    weight: float
    factors: tuple[tuple[int, bool], ...]


@dataclass(frozen=True)
class ExpressionMapping:
    """The parsed mapping: derived inputs, then expressions as sums of products of them."""

    input_names: tuple[str, ...]  # values after the rig's own: derived inputs, in order
    inputs: tuple[tuple[str, np.ndarray, float], ...]  # ("sum" | "min", coefficients, bias)
    expressions: dict[str, tuple[Term, ...]]
    unless: dict[str, tuple[str, ...]]
    groups: tuple[tuple[tuple[str, ...], float], ...]


@dataclass(frozen=True)
class LookAtRanges:
    """Gaze angle (degrees) that gives the full output, and that output, per direction."""

    horizontal_deg: float = 90.0
    horizontal_scale: float = 1.0
    up_deg: float = 90.0
    up_scale: float = 1.0
    down_deg: float = 90.0
    down_scale: float = 1.0


def load_mapping(path: Path | None = None) -> ExpressionMapping:
    """The mapping from `path`, by default the shipped assets/avatars/vrm-mapping.toml."""
    from app.resources import asset_path

    path = Path(path) if path is not None else asset_path(*MAPPING_FILE)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return _parse(data)
    except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError, KeyError, AttributeError) as err:
        raise LivefaceError(f"the VRM expression mapping {path} cannot be read ({err}); "
                            "reinstall liveface or fix the file.") from None


def _parse(data: dict) -> ExpressionMapping:
    names = list(RIG_NAMES)
    inputs = []
    for name, spec in data.get("inputs", {}).items():
        kind = "sum" if "sum" in spec else "min"
        controls = spec[kind]
        coefficients = np.zeros(len(RIG_NAMES), np.float32)
        if kind == "sum":
            for control, value in controls.items():
                coefficients[RIG_INDEX[control]] = float(value)
        elif kind == "min":
            coefficients[[RIG_INDEX[c] for c in controls]] = 1.0
        else:
            raise ValueError(f"input {name} is neither a sum nor a min")
        inputs.append((kind, coefficients, float(spec.get("bias", 0.0))))
        names.append(name)
    index = {n: i for i, n in enumerate(names)}
    expressions, unless = {}, {}
    for name, spec in data.get("expressions", {}).items():
        expressions[name] = tuple(_term(t, index) for t in spec["terms"])
        unless[name] = tuple(spec.get("unless", ()))
    groups = tuple((tuple(g["expressions"]), float(g["max_total"]))
                   for g in data.get("groups", {}).values())
    return ExpressionMapping(tuple(names[len(RIG_NAMES):]), tuple(inputs), expressions, unless, groups)


def _term(spec: list, index: dict[str, int]) -> Term:
    weight, *factors = spec
    parsed = []
    for factor in factors:
        complement = factor.startswith("1-")
        name = factor[2:] if complement else factor
        if name not in index:
            raise KeyError(f"unknown input {name!r}")
        parsed.append((index[name], complement))
    return Term(float(weight), tuple(parsed))


class VrmDriver:
    """Turns rig vectors into weights for one avatar's channels (its expressions)."""

    def __init__(self, channels: tuple[str, ...], mapping: ExpressionMapping,
                 look_at: LookAtRanges | None, perfect_sync: dict[str, str],
                 binary: tuple[str, ...] = (), overrides: tuple[tuple[str, str, str], ...] = ()):
        """`perfect_sync` maps channel names to the ARKit names that drive them directly;
        `look_at` is None when gaze does not go through expressions; `binary` names the
        expressions that are on or off (isBinary), `overrides` holds (expression, "blink" |
        "lookAt" | "mouth", "block" | "blend") as the VRM 1.0 file states them."""
        self.channels = channels
        self._mapping = mapping
        slot = {name: i for i, name in enumerate(channels)}
        self._direct = [(slot[c], RIG_INDEX[a]) for c, a in perfect_sync.items()]
        taken = set(perfect_sync)
        self._mapped = [(slot[name], terms) for name, terms in mapping.expressions.items()
                        if name in slot and name not in taken and not perfect_sync
                        and not any(u in slot for u in mapping.unless.get(name, ()))]
        self._groups = [[slot[n] for n in names if n in slot] for names, _ in mapping.groups]
        self._group_max = [most for _, most in mapping.groups]
        self._look_at = look_at
        self._look_slots = {n: slot[n] for n in LOOK_AT_NAMES if n in slot} if look_at else {}
        self._binary = [slot[n] for n in binary if n in slot]
        self._overrides = [(slot[n], [slot[m] for m in OVERRIDDEN[group] if m in slot], mode)
                           for n, group, mode in overrides if n in slot]

    def driven(self) -> dict[str, str]:
        """Channel name -> what drives it, for `liveface avatar info`."""
        out = {self.channels[s]: f"ARKit {RIG_NAMES[k]}" for s, k in self._direct}
        out.update({self.channels[s]: " ".join(self._controls(terms)) for s, terms in self._mapped})
        out.update({name: "gaze" for name in self._look_slots})
        return out

    def controls_read(self) -> set[str]:
        """Every rig control that reaches one of the avatar's channels."""
        used = {RIG_NAMES[k] for _, k in self._direct}
        for _, terms in self._mapped:
            used.update(self._controls(terms))
        return used

    def _controls(self, terms: tuple[Term, ...]) -> list[str]:
        """The rig controls an expression's terms read, directly or through inputs."""
        used = []
        for term in terms:
            for index, _ in term.factors:
                if index < len(RIG_NAMES):
                    used.append(RIG_NAMES[index])
                else:
                    coefficients = self._mapping.inputs[index - len(RIG_NAMES)][1]
                    used += [RIG_NAMES[k] for k in np.flatnonzero(coefficients)]
        return list(dict.fromkeys(used))

    def __call__(self, rig: np.ndarray) -> np.ndarray:
        weights = np.zeros(len(self.channels), np.float32)
        for slot, k in self._direct:
            weights[slot] = rig[k]
        if self._mapped:
            values = self._values(rig)
            for slot, terms in self._mapped:
                total = sum(t.weight * _product(values, t.factors) for t in terms)
                weights[slot] = min(max(total, 0.0), 1.0)
            for slots, most in zip(self._groups, self._group_max, strict=True):
                total = float(weights[slots].sum()) if slots else 0.0
                if total > most:
                    weights[slots] *= most / total
        if self._look_slots:
            self._look(rig, weights)
        self._apply_rules(weights)
        return weights

    def _apply_rules(self, weights: np.ndarray) -> None:
        """isBinary, then overrides, as VRM 1.0's expressions.md orders them: a binary
        expression is 1 above 0.5 and 0 otherwise; an active expression that overrides a
        group blocks it (0) or blends it (times 1 - its own weight)."""
        for slot in self._binary:
            weights[slot] = 1.0 if weights[slot] > 0.5 else 0.0
        for slot, group, mode in self._overrides:
            if weights[slot] > 0 and group:
                weights[group] *= 0.0 if mode == "block" else 1.0 - weights[slot]

    def _values(self, rig: np.ndarray) -> np.ndarray:
        """The rig's own values, then each derived input, clamped to 0..1."""
        derived = []
        for kind, coefficients, bias in self._mapping.inputs:
            if kind == "sum":
                derived.append(float(coefficients @ rig) + bias)
            else:
                derived.append(float(rig[coefficients > 0].min()))
        values = np.concatenate([rig, np.asarray(derived, np.float32)])
        values[:NUM_BLENDSHAPES] = np.clip(values[:NUM_BLENDSHAPES], 0.0, 1.0)
        values[len(rig):] = np.clip(values[len(rig):], 0.0, 1.0)
        return values

    def _look(self, rig: np.ndarray, weights: np.ndarray) -> None:
        """Gaze (yaw > 0: the avatar's left; pitch > 0: up) as look-at expression weights."""
        ranges = self._look_at
        yaw_deg, pitch_deg = np.degrees(rig[GAZE_SLICE].astype(np.float64))
        amounts = {
            "lookLeft": max(yaw_deg, 0.0) / ranges.horizontal_deg * ranges.horizontal_scale,
            "lookRight": max(-yaw_deg, 0.0) / ranges.horizontal_deg * ranges.horizontal_scale,
            "lookUp": max(pitch_deg, 0.0) / ranges.up_deg * ranges.up_scale,
            "lookDown": max(-pitch_deg, 0.0) / ranges.down_deg * ranges.down_scale,
        }
        for name, slot in self._look_slots.items():
            weights[slot] = min(max(amounts[name], 0.0), 1.0)


def _product(values: np.ndarray, factors: tuple[tuple[int, bool], ...]) -> float:
    result = 1.0
    for index, complement in factors:
        value = float(values[index])
        result *= 1.0 - value if complement else value
    return result
