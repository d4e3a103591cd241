"""Checkpoints: exact round trips, and a clear error for missing, truncated or tampered files."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from app.checkpoints import (load_animator, load_checkpoint, load_parts, save_bundle,
                             save_checkpoint)
from app.errors import LivefaceError
from app.model.audio_encoder import AudioEncoder
from app.model.codec import ExpressionCodec
from app.model.config import tiny_config
from app.model.denoiser import Denoiser

torch.set_num_threads(1)


def _parts(config):
    torch.manual_seed(0)
    return AudioEncoder(config), Denoiser(config), ExpressionCodec(config)


@pytest.fixture
def bundle(tmp_path):
    config = tiny_config(latent_std=0.7, mel_mean=-5.5, mel_std=3.25)
    path = tmp_path / "student.safetensors"
    save_bundle(path, *_parts(config), config)
    return path, config


def test_bundle_round_trips_exactly(bundle):
    path, config = bundle
    parts = load_parts(path)
    assert parts.config == config
    for fresh, loaded in zip(_parts(config), (parts.encoder, parts.denoiser, parts.codec)):
        for (name, a), (_, b) in zip(fresh.state_dict().items(), loaded.state_dict().items()):
            assert torch.equal(a, b), name


def test_load_animator_uses_the_stored_config(bundle):
    path, config = bundle
    animator, loaded = load_animator(path)
    assert loaded == config
    assert animator.log_mel.mean == -5.5 and animator.config.latent_std == 0.7


def test_nested_training_state_round_trips(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    model(torch.randn(4, 3)).sum().backward()
    optimiser.step()
    state = {"model": model.state_dict(), "optim": optimiser.state_dict(), "step": 7,
             "rng": torch.get_rng_state(), "note": None}
    save_checkpoint(tmp_path / "s.safetensors", state, tiny_config(), "teacher")
    loaded, _ = load_checkpoint(tmp_path / "s.safetensors", kind="teacher")
    assert loaded["step"] == 7 and loaded["note"] is None
    assert torch.equal(loaded["rng"], state["rng"])
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1.0)
    fresh.load_state_dict(loaded["optim"])
    assert fresh.param_groups[0]["lr"] == 1e-3
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"],
                       optimiser.state_dict()["state"][0]["exp_avg"])


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(LivefaceError, match="does not exist"):
        load_animator(tmp_path / "nope.safetensors")


def test_truncated_file_is_a_user_error(bundle):
    path, _ = bundle
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LivefaceError, match="unreadable"):
        load_animator(path)


def test_tampered_tensor_fails_the_hash(bundle):
    path, _ = bundle
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(LivefaceError, match="SHA-256"):
        load_animator(path)


def test_a_flipped_byte_is_caught(bundle):
    path, _ = bundle
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(LivefaceError):
        load_animator(path)


def test_wrong_kind_and_offline_bundle_are_user_errors(tmp_path):
    config = tiny_config(causal=False)
    path = tmp_path / "offline.safetensors"
    save_bundle(path, *_parts(config), config)
    with pytest.raises(LivefaceError, match="offline"):
        load_animator(path)
    save_checkpoint(tmp_path / "t.safetensors", {"step": 1}, config, "teacher")
    with pytest.raises(LivefaceError, match="teacher"):
        load_animator(tmp_path / "t.safetensors")


def test_no_pickle_inside(bundle):
    path, _ = bundle
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    assert json.loads(metadata["config"])["latent_std"] == 0.7
    assert b"pickle" not in path.read_bytes()[:2000] and path.read_bytes()[8:9] == b"{"
