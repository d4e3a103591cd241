"""A voice adapter as bytes in a profile, and the model parts a command runs with it.

The adapter is a safetensors file whose metadata names the model it was fitted to (the
SHA-256 of the student bundle's bytes): an adapter fitted to other weights would move the
features the wrong way, so it is ignored, with a notice, until the person enrols again.
"""

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from app.checkpoints import ModelParts
from app.errors import LivefaceError, notice
from app.model.voice_adapter import AdaptedEncoder, VoiceAdapter

KIND = "liveface-voice-adapter/1"


def model_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def adapter_bytes(adapter: VoiceAdapter, model_hash: str, summary: dict) -> bytes:
    tensors = {name: value.detach().contiguous() for name, value in adapter.state_dict().items()}
    return save(tensors, metadata={"kind": KIND, "model_sha256": model_hash,
                                   "summary": json.dumps(summary)})


def adapter_from_bytes(data: bytes, parts: ModelParts, model_hash: str) -> VoiceAdapter:
    """The adapter, or LivefaceError when the bytes are damaged or made for other weights."""
    try:
        tensors = load(data)
        metadata = _metadata(data)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise LivefaceError(f"the voice adapter is damaged ({err}).") from None
    if metadata.get("kind") != KIND:
        raise LivefaceError("the voice file is not a liveface voice adapter.")
    if metadata.get("model_sha256") != model_hash:
        raise LivefaceError("the voice profile was made for other model weights; enrol "
                            "again with `liveface calibrate voice`.")
    adapter = VoiceAdapter(parts.config)
    try:
        adapter.load_state_dict(tensors)
    except RuntimeError as err:
        raise LivefaceError(f"the voice adapter does not fit this model ({err}).") from None
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise LivefaceError("the voice adapter holds NaN or infinite numbers.")
    return adapter.eval().requires_grad_(False)


def _metadata(data: bytes) -> dict:
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_size])
    return header.get("__metadata__", {})


def with_voice(parts: ModelParts, model_path: Path, profile_name: str | None,
               use: bool = True) -> tuple[ModelParts, str | None]:
    """The parts with the profile's voice adapter around their encoder, and a label saying
    so; the parts unchanged (label None) without a profile, an enrolled voice, or `use`.
    A damaged or mismatched adapter is reported and left out."""
    from app.profiles import load_profile

    if not use or not parts.config.causal:
        return parts, None
    profile = load_profile(profile_name)
    if profile is None or profile.voice is None:
        return parts, None
    try:
        adapter = adapter_from_bytes(profile.voice, parts, model_sha256(model_path))
    except LivefaceError as err:
        notice(f"profile {profile.name!r}: {err} Running without the voice adapter.")
        return parts, None
    encoder = AdaptedEncoder(parts.encoder, adapter).to(next(parts.encoder.parameters()).device)
    return ModelParts(parts.config, encoder, parts.denoiser, parts.codec), \
        f"voice profile {profile.name!r}"
