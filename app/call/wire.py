"""The face on the wire: one binary message per model frame on the data channel.

Version 2, little-endian. Every message starts with (version u8, kind u8).

    kind 0  face (35 bytes, plus the optional fields its flags announce, in this order)
      off size
        2    1  flags: 1 head pose, 2 gaze, 4 eyelids, 8 muted, 16 lips closed, 32 lips
                parted (the sender's lip-contact head: app.model.lip_contact; at most one)
        3    1  emotion: index into app.avatar.emotions.EMOTIONS
        4    1  intensity: 0..255 for 0..1
        5    2  seq (u16, the low 16 bits): the 20 ms voice block this face belongs to;
                block n is samples [320 n, 320 n + 320) of the voice track, so seq is
                also its media time
        7    4  capture_us (u32, the low 32 bits): when the block's last sample was
                captured, sender's clock in µs
       11   24  latent: the expression codec's 32 values, 6 bits each (LATENT_BITS), each
                a step of 63 between its dimension's fixed low and high
                (app/call/latent_range.py); four values in three bytes, the first value
                in the lowest bits
       35    6  head pitch, yaw, roll (rad, float16)   when flags & 1 (a tracked head)
        +    4  gaze yaw, pitch (rad, float16)        when flags & 2 (measured gaze)
        +    2  eyelid closure 0..1 (float16)         when flags & 4 (measured blinks)
    kind 1  clock ping (10 bytes): t_ping_us (i64, the pinger's clock)
    kind 2  clock pong (18 bytes): t_ping_us, t_pong_us (i64, the ponger's clock)
    kind 3  avatar (35 + n bytes): the sender's avatar file's SHA-256 (32 bytes), n (u8, at
            most 64), its name (n bytes of UTF-8); repeated now and then, as the channel
            is unreliable

Seq and capture time wrap (after 22 minutes and 72 minutes); the receiver takes the
full value nearest to one it knows (`unwrap`: the newest seq it has, the peer's clock from
its pings). A message that breaks any rule (truncated, oversized, an unknown version, kind or flag,
an emotion out of range, a non-finite float) raises `Malformed` with a short reason; the
receiver counts it by reason and drops it. Nothing in a message can index, allocate or
render outside its bounds.
"""

import struct
from dataclasses import dataclass

import numpy as np

from app.avatar.emotions import EMOTIONS
from app.call.latent_range import LATENT_BITS, load_ranges
from app.model.config import ModelConfig
from app.model.lip_contact import CLOSE, NONE, OPEN

VERSION = 2
KIND_FACE, KIND_PING, KIND_PONG, KIND_AVATAR = 0, 1, 2, 3
HEAD, GAZE, EYELIDS, MUTED, LIPS_CLOSED, LIPS_PARTED = 1, 2, 4, 8, 16, 32
CONTACT_FLAGS = {CLOSE: LIPS_CLOSED, OPEN: LIPS_PARTED}
LATENT_SIZE = ModelConfig().latent_size

_PREFIX = struct.Struct("<BB")
LATENT_BYTES = LATENT_SIZE * LATENT_BITS // 8
_FACE = struct.Struct(f"<BBBBBHI{LATENT_BYTES}s")
_LEVELS = (1 << LATENT_BITS) - 1
LATENT_LOW, LATENT_HIGH = load_ranges()
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
    contact: int = NONE  # app.model.lip_contact's code: none, close or open the lips


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
    flags = MUTED * message.muted | CONTACT_FLAGS.get(message.contact, 0)
    extra: list[float] = []
    for flag, value in ((HEAD, message.head), (GAZE, message.gaze), (EYELIDS, message.eyelids)):
        if value is not None:
            flags |= flag
            extra += [value] if flag == EYELIDS else list(value)
    intensity = round(min(1.0, max(0.0, message.intensity)) * 255)
    body = _FACE.pack(VERSION, KIND_FACE, flags, message.emotion, intensity,
                      message.seq & 0xFFFF, message.capture_us & 0xFFFFFFFF,
                      pack_latent(message.latent))
    return body + _float16_range(extra).astype("<f2").tobytes()


def _float16_range(values) -> np.ndarray:
    return np.clip(np.asarray(values, np.float32), -F16_MAX, F16_MAX)


def quantise(latent) -> np.ndarray:
    """(LATENT_SIZE,) values -> their steps 0..63 between the fixed ranges (clipped)."""
    values = np.asarray(latent, np.float32).reshape(LATENT_SIZE)
    values = np.where(np.isfinite(values), values, (LATENT_LOW + LATENT_HIGH) / 2)
    unit = (np.clip(values, LATENT_LOW, LATENT_HIGH) - LATENT_LOW) / (LATENT_HIGH - LATENT_LOW)
    return np.round(unit * _LEVELS).astype(np.uint32)


def dequantise(steps: np.ndarray) -> np.ndarray:
    return (LATENT_LOW + steps * ((LATENT_HIGH - LATENT_LOW) / _LEVELS)).astype(np.float32)


def pack_latent(latent) -> bytes:
    """Four 6-bit steps in each three bytes, little-endian."""
    steps = quantise(latent).reshape(-1, 4)
    words = steps[:, 0] | steps[:, 1] << 6 | steps[:, 2] << 12 | steps[:, 3] << 18
    return words.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def unpack_latent(data: bytes) -> np.ndarray:
    triples = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.uint32)
    words = triples[:, 0] | triples[:, 1] << 8 | triples[:, 2] << 16
    steps = (words[:, None] >> np.array([0, 6, 12, 18], np.uint32)) & _LEVELS
    return dequantise(steps.reshape(LATENT_SIZE))


def unwrap(low_bits: int, bits: int, near: int) -> int:
    """The integer whose low `bits` bits are `low_bits` nearest to `near`."""
    period = 1 << bits
    return near + ((low_bits - near + period // 2) % period) - period // 2


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
    _, _, flags, emotion, intensity, seq, capture_us, packed = _FACE.unpack_from(data)
    known = HEAD | GAZE | EYELIDS | MUTED | LIPS_CLOSED | LIPS_PARTED
    both = LIPS_CLOSED | LIPS_PARTED
    if flags & ~known or flags & both == both or emotion >= len(EMOTIONS):
        raise Malformed("bad_field")
    counts = [count for flag, count in _OPTIONAL if flags & flag]
    _check_size(data, _FACE.size + 2 * sum(counts))
    rest = np.frombuffer(data, "<f2", offset=_FACE.size).astype(np.float32)
    if not np.isfinite(rest).all():
        raise Malformed("non_finite")
    latent = unpack_latent(packed)
    optional: dict[int, tuple[float, ...]] = {}
    for flag, count in _OPTIONAL:
        if flags & flag:
            optional[flag], rest = tuple(float(v) for v in rest[:count]), rest[count:]
    eyelids = optional.get(EYELIDS)
    return FaceMessage(seq, capture_us, latent, emotion, intensity / 255.0,
                       optional.get(HEAD), optional.get(GAZE),
                       None if eyelids is None else min(1.0, max(0.0, eyelids[0])),
                       bool(flags & MUTED),
                       next((code for code, flag in CONTACT_FLAGS.items() if flags & flag), NONE))


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
