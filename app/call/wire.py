"""The face on the wire: one binary message per model frame on the data channel.

Version 1, little-endian. Every message starts with (version u8, kind u8).

    kind 0  face (81 bytes, plus the optional fields its flags announce, in this order)
      off size
        2    1  flags: 1 head pose, 2 gaze, 4 eyelids, 8 muted
        3    1  emotion: index into app.avatar.emotions.EMOTIONS
        4    1  intensity: 0..255 for 0..1
        5    4  seq (u32): the 20 ms voice block this face belongs to; block n is samples
                [320 n, 320 n + 320) of the voice track, so seq is also its media time
        9    8  capture_us (i64): when the block's last sample was captured, sender's clock
       17   64  latent: the expression codec's 32 floats as float16
       81    6  head pitch, yaw, roll (rad, float16)   when flags & 1 (a tracked head)
        +    4  gaze yaw, pitch (rad, float16)        when flags & 2 (measured gaze)
        +    2  eyelid closure 0..1 (float16)         when flags & 4 (measured blinks)
    kind 1  clock ping (10 bytes): t_ping_us (i64, the pinger's clock)
    kind 2  clock pong (18 bytes): t_ping_us, t_pong_us (i64, the ponger's clock)
    kind 3  avatar (35 + n bytes): the sender's avatar file's SHA-256 (32 bytes), n (u8, at
            most 64), its name (n bytes of UTF-8); repeated now and then, as the channel
            is unreliable

A message that breaks any rule (truncated, oversized, an unknown version, kind or flag,
an emotion out of range, a non-finite float) raises `Malformed` with a short reason; the
receiver counts it by reason and drops it. Nothing in a message can index, allocate or
render outside its bounds.
"""

import struct
from dataclasses import dataclass

import numpy as np

from app.avatar.emotions import EMOTIONS
from app.model.config import ModelConfig

VERSION = 1
KIND_FACE, KIND_PING, KIND_PONG, KIND_AVATAR = 0, 1, 2, 3
HEAD, GAZE, EYELIDS, MUTED = 1, 2, 4, 8
LATENT_SIZE = ModelConfig().latent_size

_PREFIX = struct.Struct("<BB")
_FACE = struct.Struct(f"<BBBBBIq{LATENT_SIZE}e")
_PING = struct.Struct("<BBq")
_PONG = struct.Struct("<BBqq")
_AVATAR = struct.Struct("<BB32sB")
MAX_NAME_BYTES = 64
_OPTIONAL = ((HEAD, 3), (GAZE, 2), (EYELIDS, 1))  # (flag, float16 count), in wire order
FACE_BYTES = _FACE.size
F16_MAX = 65504.0


class Malformed(ValueError):
    """A message that breaks the format; `reason` is one of REASONS."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


REASONS = ("truncated", "oversized", "wrong_version", "unknown_kind", "bad_field", "non_finite")


@dataclass(frozen=True)
class FaceMessage:
    seq: int
    capture_us: int
    latent: np.ndarray  # (LATENT_SIZE,) float32
    emotion: int = 0
    intensity: float = 0.0
    head: tuple[float, float, float] | None = None
    gaze: tuple[float, float] | None = None
    eyelids: float | None = None
    muted: bool = False


@dataclass(frozen=True)
class AvatarChoice:
    name: str
    sha256: bytes  # 32 bytes: of the avatar file as sent


@dataclass(frozen=True)
class Ping:
    t_ping_us: int


@dataclass(frozen=True)
class Pong:
    t_ping_us: int
    t_pong_us: int


def encode_face(message: FaceMessage) -> bytes:
    """The message's bytes; floats beyond float16's range are clipped to it."""
    flags = MUTED * message.muted
    extra: list[float] = []
    for flag, value in ((HEAD, message.head), (GAZE, message.gaze), (EYELIDS, message.eyelids)):
        if value is not None:
            flags |= flag
            extra += [value] if flag == EYELIDS else list(value)
    intensity = round(min(1.0, max(0.0, message.intensity)) * 255)
    latent = _float16_range(message.latent).reshape(LATENT_SIZE)
    body = _FACE.pack(VERSION, KIND_FACE, flags, message.emotion, intensity,
                      message.seq & 0xFFFFFFFF, message.capture_us, *latent.tolist())
    return body + _float16_range(extra).astype("<f2").tobytes()


def _float16_range(values) -> np.ndarray:
    return np.clip(np.asarray(values, np.float32), -F16_MAX, F16_MAX)


def encode_ping(t_ping_us: int) -> bytes:
    return _PING.pack(VERSION, KIND_PING, t_ping_us)


def encode_pong(t_ping_us: int, t_pong_us: int) -> bytes:
    return _PONG.pack(VERSION, KIND_PONG, t_ping_us, t_pong_us)


def encode_avatar(choice: AvatarChoice) -> bytes:
    name = choice.name.encode()[:MAX_NAME_BYTES].decode(errors="ignore").encode()
    return _AVATAR.pack(VERSION, KIND_AVATAR, choice.sha256, len(name)) + name


def decode(data: bytes | str) -> FaceMessage | Ping | Pong | AvatarChoice:
    """One message from the data channel, checked; `Malformed` when it breaks the format."""
    if not isinstance(data, (bytes, bytearray)):
        raise Malformed("bad_field")  # a text message
    if len(data) < _PREFIX.size:
        raise Malformed("truncated")
    version, kind = _PREFIX.unpack_from(data)
    if version != VERSION:
        raise Malformed("wrong_version")
    if kind == KIND_FACE:
        return _decode_face(data)
    if kind == KIND_AVATAR:
        return _decode_avatar(data)
    if kind in (KIND_PING, KIND_PONG):
        layout = _PING if kind == KIND_PING else _PONG
        _check_size(data, layout.size)
        values = layout.unpack(data)[2:]
        return Ping(*values) if kind == KIND_PING else Pong(*values)
    raise Malformed("unknown_kind")


def _decode_face(data: bytes) -> FaceMessage:
    if len(data) < _FACE.size:
        raise Malformed("truncated")
    _, _, flags, emotion, intensity, seq, capture_us = _FACE.unpack_from(data)[:7]
    if flags & ~(HEAD | GAZE | EYELIDS | MUTED) or emotion >= len(EMOTIONS):
        raise Malformed("bad_field")
    counts = [count for flag, count in _OPTIONAL if flags & flag]
    _check_size(data, _FACE.size + 2 * sum(counts))
    values = np.frombuffer(data, "<f2", offset=_FACE.size - 2 * LATENT_SIZE).astype(np.float32)
    if not np.isfinite(values).all():
        raise Malformed("non_finite")
    latent, rest = values[:LATENT_SIZE], values[LATENT_SIZE:]
    optional: dict[int, tuple[float, ...]] = {}
    for flag, count in _OPTIONAL:
        if flags & flag:
            optional[flag], rest = tuple(float(v) for v in rest[:count]), rest[count:]
    eyelids = optional.get(EYELIDS)
    return FaceMessage(seq, capture_us, latent.copy(), emotion, intensity / 255.0,
                       optional.get(HEAD), optional.get(GAZE),
                       None if eyelids is None else min(1.0, max(0.0, eyelids[0])),
                       bool(flags & MUTED))


def _decode_avatar(data: bytes) -> AvatarChoice:
    if len(data) < _AVATAR.size:
        raise Malformed("truncated")
    _, _, sha256, size = _AVATAR.unpack_from(data)
    if size > MAX_NAME_BYTES:
        raise Malformed("bad_field")
    _check_size(data, _AVATAR.size + size)
    try:
        name = bytes(data[_AVATAR.size:]).decode()
    except UnicodeDecodeError:
        raise Malformed("bad_field") from None
    if not name.isprintable():
        raise Malformed("bad_field")
    return AvatarChoice(name, bytes(sha256))


def _check_size(data: bytes, expected: int) -> None:
    if len(data) < expected:
        raise Malformed("truncated")
    if len(data) > expected:
        raise Malformed("oversized")
