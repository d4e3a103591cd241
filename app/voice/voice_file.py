"""A voice fit as bytes in a profile, and the model parts a command runs with it.

The fit (adapter and fine-tuned encoder and denoiser, `VoiceFit`) is a safetensors file
whose metadata names the model it was fitted to (the SHA-256 of the student bundle's
bytes): a fit of other weights would not match the codec and config the command loads, so
it is ignored, with a notice, until the person enrols again.
"""

import copy
import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from app.checkpoints import ModelParts
from app.errors import LivefaceError, notice
from app.model.voice_adapter import AdaptedEncoder, VoiceAdapter, VoiceFit

KIND = "liveface-voice-adapter/1"


def model_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def adapter_bytes(fit: VoiceFit, model_hash: str, summary: dict) -> bytes:
    return save(fit.state_dict(), metadata={"kind": KIND, "model_sha256": model_hash,
                                   "summary": json.dumps(summary)})


def adapter_from_bytes(data: bytes, parts: ModelParts, model_hash: str) -> VoiceFit:
    """The fit, or LivefaceError when the bytes are damaged or made for other weights."""
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
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise LivefaceError("the voice adapter holds NaN or infinite numbers.")
    fit = VoiceFit(VoiceAdapter(parts.config), copy.deepcopy(parts.encoder),
                   copy.deepcopy(parts.denoiser))
    try:
        fit.load_state_dict(tensors)
    except RuntimeError as err:
        raise LivefaceError("the voice adapter does not fit this model "
                            f"({str(err).splitlines()[0]}).") from None
    return fit.frozen()


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
        fit = adapter_from_bytes(profile.voice, parts, model_sha256(model_path))
    except LivefaceError as err:
        notice(f"profile {profile.name!r}: {err} Running without the voice adapter.")
        return parts, None
    device = next(parts.encoder.parameters()).device
    return ModelParts(parts.config, AdaptedEncoder(fit.encoder, fit.adapter).to(device),
                      fit.denoiser.to(device), parts.codec, parts.contact), \
        f"voice profile {profile.name!r}"
