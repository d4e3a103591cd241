"""The animation as the Live Link Face app's UDP stream (`--livelink HOST[:PORT]`), for
Unreal's Live Link (the "LiveLinkFace" / Apple ARKit face source listens on port 11111).

One datagram per model frame (50 a second), laid out as Unreal's ARKit face support reads
it (AppleARKitLiveLinkSource.cpp, packet version 6), every number in network byte order:

    uint8          packet version (6)
    int32 + bytes  device id: its length, then UTF-8 (a UUID string, as the app sends)
    int32 + bytes  subject name: its length, then UTF-8 (what Unreal lists the face as)
    int32, float   frame time: frame number and sub-frame (FFrameTime)
    int32, int32   frame rate: numerator and denominator (FFrameRate), here 50/1
    uint8          curve count (61)
    61 x float32   the curves in Unreal's EARFaceBlendShape order: the 52 ARKit weights in
                   Apple's order (JawLeft before JawRight, MouthLeft before MouthRight, unlike
                   the app's CSV), then HeadYaw, HeadPitch, HeadRoll and yaw, pitch, roll
                   for the left and then the right eye

Values: weights 0..1 (clipped; a NaN is sent as 0). Angles as Unreal's ARKit source makes
them, degrees over 180 (the rig's radians over pi, -1..1), with the rig's signs (README,
"The rig vector"); the app's own signs have not been compared with a recording. Both eyes
get the rig's one gaze; eye roll is 0 (the rig has none).

Frame time: the frame's number at 50 frames a second on the local time of day (the app's
default timecode source is the phone's clock), fixed at the first frame sent and then
counted one per model frame, so the timecode follows the audio clock without jitter; the
sub-frame is always 0.
"""

import math
import socket
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.rig import ARKIT_NAMES, RIG_INDEX
from app.errors import LivefaceError
from app.live.clock import time_of_day_s
from app.live.mailbox import LiveFrame
from app.outputs.osc import parse_endpoint, resolve

DEFAULT_PORT = 11111  # where Unreal's Live Link Face source listens
DEFAULT_ENDPOINT = f"127.0.0.1:{DEFAULT_PORT}"
DEFAULT_SUBJECT = "liveface"
PACKET_VERSION = 6

LIVELINK_STREAM_CURVES: tuple[str, ...] = (
    *(name[0].upper() + name[1:] for name in ARKIT_NAMES),
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
CURVE_COUNT = len(LIVELINK_STREAM_CURVES)  # 61
_ANGLE_SOURCES: tuple[str | None, ...] = ("headYaw", "headPitch", "headRoll",
                                          "gazeYaw", "gazePitch", None,
                                          "gazeYaw", "gazePitch", None)
_WEIGHT_INDICES = np.array([RIG_INDEX[name] for name in ARKIT_NAMES])
_ANGLE_INDICES = [None if s is None else RIG_INDEX[s] for s in _ANGLE_SOURCES]
_FRAME = struct.Struct(f">ifiiB{CURVE_COUNT}f")
MAX_NAME_BYTES = 255  # Unreal's reader keeps room for 256 characters a name
assert CURVE_COUNT == 61 and len(_ANGLE_SOURCES) == 9


def parse_livelink_endpoint(text: str) -> tuple[str, int]:
    """'HOST:PORT', or 'HOST' (or '[v6 address]') for Unreal's port 11111."""
    if ":" not in text or (text.startswith("[") and text.endswith("]")):
        text = f"{text}:{DEFAULT_PORT}"
    return parse_endpoint(text)


def livelink_stream_values(rig: np.ndarray) -> np.ndarray:
    """(61,) float32: one rig vector as the curves of a packet, in their order."""
    rig = np.nan_to_num(np.asarray(rig, np.float32), nan=0.0)
    values = np.zeros(CURVE_COUNT, np.float32)
    values[:len(ARKIT_NAMES)] = np.clip(rig[_WEIGHT_INDICES], 0.0, 1.0)
    for k, index in enumerate(_ANGLE_INDICES):
        if index is not None:
            values[len(ARKIT_NAMES) + k] = np.clip(rig[index] / math.pi, -1.0, 1.0)
    return values


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">i", len(data)) + data


def packet_head(device_id: str, subject: str) -> bytes:
    """The part of every packet before the frame time."""
    return struct.pack(">B", PACKET_VERSION) + _string(device_id) + _string(subject)


def packet(head: bytes, frame_number: int, values: np.ndarray,
           rate_hz: int = FRAME_RATE_HZ) -> bytes:
    return head + _FRAME.pack(frame_number, 0.0, rate_hz, 1, CURVE_COUNT, *values.tolist())


def device_id_for(subject: str) -> str:
    """A UUID that stays the same for this machine and subject from run to run, so Unreal
    sees the same device each time."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{subject}.{socket.gethostname()}.liveface"))


@dataclass
class LiveLinkCounts:
    sent: int = 0
    failed: int = 0


class LiveLinkSender:
    """A frame sink: `send(frame)` after every model frame. `clock_s` gives the local time
    of day in seconds (injected so tests can fix it)."""

    def __init__(self, endpoint: str, subject: str = DEFAULT_SUBJECT,
                 clock_s: Callable[[], float] = time_of_day_s):
        data = subject.encode("utf-8")
        if not data or len(data) > MAX_NAME_BYTES:
            raise LivefaceError(f"a Live Link subject name takes 1 to {MAX_NAME_BYTES} "
                                f"bytes, not {len(data)}.")
        self.host, self.port = parse_livelink_endpoint(endpoint)
        self.subject = subject
        address = resolve(self.host, self.port)
        self._to = (address, self.port)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._head = packet_head(device_id_for(subject), subject)
        self._clock_s = clock_s
        self._origin: int | None = None  # frame number minus frame index
        self.counts = LiveLinkCounts()

    def close(self) -> None:
        self._socket.close()

    def frame_number(self, index: int) -> int:
        """The frame number frame `index` is sent with: the time of day, in frames, when
        the first frame went out, counted on by one a frame."""
        if self._origin is None:
            self._origin = int(self._clock_s() * FRAME_RATE_HZ) - index
        return self._origin + index

    def send(self, frame: LiveFrame) -> None:
        data = packet(self._head, self.frame_number(frame.index),
                      livelink_stream_values(frame.rig))
        try:
            self._socket.sendto(data, self._to)
        except OSError:
            self.counts.failed += 1
            return
        self.counts.sent += 1

    def to_dict(self) -> dict:
        return {"to": f"{self.host}:{self.port}", "dialect": "livelink",
                "subject": self.subject, "sent": self.counts.sent,
                "failed": self.counts.failed}
