"""Checkpoints are data: one safetensors file, the config and structure as JSON in its metadata.

A file holds a nested state (dicts and lists of tensors, numbers, strings, booleans and
None: a model's `state_dict`, an optimiser's `state_dict`, a step count) flattened into named
tensors plus a JSON "tree" that says where each tensor goes back. Nothing is pickled, so
loading a file can never run code.

Metadata keys (all strings, as safetensors requires):

    format   "liveface-checkpoint/1"
    kind     what the file holds, e.g. "bundle" (the parts an animator needs) or "teacher"
             (a training stage's resumable state)
    config   ModelConfig.to_dict() as JSON
    tree     the nested state as JSON, each tensor replaced by {"tensor": "<name>"}
    sha256   SHA-256 over every tensor's name, dtype, shape and bytes, in name order

Loading checks all of it and turns a missing, truncated or tampered file into a
`LivefaceError` that says what to do. A *bundle* is a file whose tree is
{"encoder": state_dict, "denoiser": state_dict, "codec": state_dict}; `load_animator`
builds the streaming animator from one.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from app.errors import LivefaceError
from app.files import write_atomic
from app.model.animator import Animator
from app.model.audio_encoder import AudioEncoder
from app.model.codec import ExpressionCodec
from app.model.config import ModelConfig
from app.model.denoiser import Denoiser
from app.model.lip_contact import ContactHead, LipGeometry

FORMAT = "liveface-checkpoint/1"
BUNDLE = "bundle"
BUNDLE_PARTS = ("encoder", "denoiser", "codec")
# The exported bundles, as `liveface export` names them; the student is what ships.
STUDENT_FILE = "liveface-student.safetensors"
TEACHER_FILE = "liveface-teacher.safetensors"
OFFLINE_FILE = "liveface-offline.safetensors"


def flatten(state, prefix: str, tensors: dict[str, Tensor]):
    """The JSON tree of `state`; its tensors go into `tensors` under dotted names."""
    if isinstance(state, Tensor):
        tensors[prefix] = state.detach().to("cpu", copy=True).contiguous()
        return {"tensor": prefix}
    if isinstance(state, dict):
        if not all(isinstance(key, (str, int)) for key in state):
            raise TypeError(f"checkpoint keys must be str or int at {prefix!r}")
        # JSON keys are strings; remember which were ints (optimiser states use int keys)
        return {"dict": [[key, flatten(value, f"{prefix}.{key}", tensors)]
                         for key, value in state.items()]}
    if isinstance(state, (list, tuple)):
        return {"list": [flatten(value, f"{prefix}.{i}", tensors) for i, value in enumerate(state)]}
    if state is None or isinstance(state, (bool, int, float, str)):
        return {"value": state}
    raise TypeError(f"cannot store a {type(state).__name__} in a checkpoint ({prefix!r})")


def unflatten(tree, tensors: dict[str, Tensor]):
    if "tensor" in tree:
        return tensors[tree["tensor"]]
    if "dict" in tree:
        return {key: unflatten(value, tensors) for key, value in tree["dict"]}
    if "list" in tree:
        return [unflatten(value, tensors) for value in tree["list"]]
    return tree["value"]


def tensors_sha256(tensors: dict[str, Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, state: dict, config: ModelConfig, kind: str) -> None:
    """Write `state` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    tree = flatten(state, "s", tensors)
    metadata = {"format": FORMAT, "kind": kind, "config": json.dumps(config.to_dict()),
                "tree": json.dumps(tree), "sha256": tensors_sha256(tensors)}
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_checkpoint(path: Path, kind: str | None = None, device: str = "cpu"
                    ) -> tuple[dict, ModelConfig]:
    """(state, config) of a file written by `save_checkpoint`, verified."""
    path = Path(path)
    if not path.is_file():
        raise LivefaceError(f"checkpoint {path} does not exist; train or export one first "
                            "(liveface train / liveface export).")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise LivefaceError(f"checkpoint {path} is unreadable (truncated or not a safetensors "
                            f"file: {err}); export or download it again.") from None
    if metadata.get("format") != FORMAT:
        raise LivefaceError(f"{path} is not a liveface checkpoint (format "
                            f"{metadata.get('format')!r}, expected {FORMAT!r}).")
    if kind is not None and metadata.get("kind") != kind:
        raise LivefaceError(f"{path} holds a {metadata.get('kind')!r} checkpoint, not {kind!r}.")
    if tensors_sha256({k: v.cpu() for k, v in tensors.items()}) != metadata.get("sha256"):
        raise LivefaceError(f"checkpoint {path} fails its SHA-256 check: it was modified or "
                            "damaged; export or download it again.")
    try:
        config = ModelConfig.from_dict(json.loads(metadata["config"]))
        state = unflatten(json.loads(metadata["tree"]), tensors)
    except (KeyError, ValueError, TypeError) as err:
        raise LivefaceError(f"checkpoint {path} has malformed metadata ({err}).") from None
    return state, config


def checkpoint_kind(path: Path) -> str | None:
    """The file's kind without loading its tensors (None when unreadable)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("kind")
    except (SafetensorError, OSError, ValueError, RuntimeError):
        return None


def save_bundle(path: Path, encoder: AudioEncoder, denoiser: Denoiser, codec: ExpressionCodec,
                config: ModelConfig, contact: ContactHead | None = None) -> None:
    """A bundle; with `contact`, its lip-contact head too (`config.contact_context` must then
    say how much it reads)."""
    state = {"encoder": encoder.state_dict(), "denoiser": denoiser.state_dict(),
             "codec": codec.state_dict()}
    if (contact is not None) != bool(config.contact_context):
        raise ValueError("a contact head goes with a config whose contact_context is set")
    if contact is not None:
        state["contact"] = contact.state_dict()
    save_checkpoint(path, state, config, BUNDLE)


@dataclass
class ModelParts:
    config: ModelConfig
    encoder: AudioEncoder
    denoiser: Denoiser
    codec: ExpressionCodec
    contact: ContactHead | None = None  # the lip-contact head, in bundles that have one


def load_parts(path: Path, device: str = "cpu") -> ModelParts:
    """The encoder, denoiser and codec of a bundle, in eval mode on `device`."""
    state, config = load_checkpoint(path, kind=BUNDLE, device=device)
    parts = ModelParts(config, AudioEncoder(config), Denoiser(config), ExpressionCodec(config))
    for name in BUNDLE_PARTS:
        module = getattr(parts, name)
        try:
            module.load_state_dict(state[name])
        except (KeyError, RuntimeError) as err:
            raise LivefaceError(f"bundle {path} does not match its config ({name}: "
                                f"{str(err).splitlines()[0]}).") from None
        module.to(device).eval()
    if config.contact_context:
        parts.contact = _contact_head(path, config, state.get("contact")).to(device).eval()
    return parts


def _contact_head(path: Path, config: ModelConfig, state: dict | None) -> ContactHead:
    """The bundle's lip-contact head, its lip geometry sized from the saved buffers."""
    try:
        lips = LipGeometry.empty(state["lips.upper_rest"].shape[0],
                                 state["lips.lower_rest"].shape[0])
        head = ContactHead(config.audio_channels, config.contact_context, config.contact_hidden,
                           lips, release=config.contact_release > 0)
        head.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as err:
        raise LivefaceError(f"bundle {path} does not match its config (contact: "
                            f"{str(err).splitlines()[0]}).") from None
    return head


def load_animator(path: Path, device: str = "cpu") -> tuple[Animator, ModelConfig]:
    """The streaming animator of a causal bundle (the student or the teacher)."""
    parts = load_parts(path, device)
    if not parts.config.causal:
        raise LivefaceError(f"{path} holds the offline baseline, which cannot stream; load it "
                            "with load_parts and generate_offline.")
    return streaming_animator(parts).to(device), parts.config


def streaming_animator(parts: "ModelParts") -> Animator:
    """The streaming animator of a causal bundle's parts."""
    return Animator(parts.config, parts.encoder, parts.denoiser, parts.codec,
                    parts.contact).eval()
