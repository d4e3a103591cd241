"""The animation as OSC over UDP, one bundle per model frame (50 fps), for other programs.

Two dialects:
- `liveface` (`--osc HOST:PORT`): the whole frame, in the rig's own order (README, "The
  rig vector"):
      /liveface/rig      57 floats: 52 ARKit blendshape weights, head pitch, yaw, roll,
                         gaze yaw, pitch (radians)
      /liveface/wrinkle  one float per face region (app/avatar/texture_controls.py)
      /liveface/flush    one float per face region
      /liveface/frame    the frame's index (int) and its audio's capture time (float, s)
- `vmc` (`--vmc HOST:PORT`): the VMC protocol's blendshape messages, as an assistant
  sends them to a performer (VSeeFace, VNyan, Warudo; their port is usually 39540):
      /VMC/Ext/Blend/Val  ARKit name (Apple's spelling, as "perfect sync" avatars name
                          their clips), weight; one per blendshape
      /VMC/Ext/Blend/Apply
  Head and gaze are not sent in this dialect.

Sending never raises into the model's thread: a failed send (no route, a full buffer) is
counted and the next frame tries again.
"""

import socket
from dataclasses import dataclass

import numpy as np
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import UDPClient

from app.avatar.rig import ARKIT_NAMES, BLENDSHAPE_SLICE
from app.errors import LivefaceError
from app.live.mailbox import LiveFrame

DIALECTS = ("liveface", "vmc")


def parse_endpoint(text: str) -> tuple[str, int]:
    """'HOST:PORT' (or 'PORT' for this machine) as (host, port); a clear error otherwise."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise LivefaceError(f"'{text}' is not HOST:PORT (a port from 1 to 65535).")
    return host, int(port)


def resolve(host: str, port: int) -> str:
    """The numeric address of `host`, looked up once: a name resolved on every send would
    stall the stream whenever the resolver is slow."""
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
    except (socket.gaierror, UnicodeError) as err:
        raise LivefaceError(f"cannot resolve '{host}' for OSC output: {err}.") from None


def _message(address: str, *values) -> OscMessageBuilder:
    builder = OscMessageBuilder(address=address)
    for value in values:
        builder.add_arg(value)
    return builder


def liveface_messages(frame: LiveFrame) -> list[OscMessageBuilder]:
    return [_message("/liveface/rig", *map(float, frame.rig)),
            _message("/liveface/wrinkle", *map(float, frame.wrinkle)),
            _message("/liveface/flush", *map(float, frame.flush)),
            _message("/liveface/frame", int(frame.index), float(frame.capture_s))]


def vmc_messages(frame: LiveFrame) -> list[OscMessageBuilder]:
    weights = np.clip(frame.rig[BLENDSHAPE_SLICE], 0.0, 1.0)
    return ([_message("/VMC/Ext/Blend/Val", name, float(w))
             for name, w in zip(ARKIT_NAMES, weights)]
            + [_message("/VMC/Ext/Blend/Apply")])


@dataclass
class OscCounts:
    sent: int = 0
    failed: int = 0


class OscSender:
    """A frame sink: `send(frame)` after every model frame."""

    def __init__(self, endpoint: str, dialect: str = "liveface"):
        if dialect not in DIALECTS:
            raise LivefaceError(f"unknown OSC dialect '{dialect}'; use one of {DIALECTS}.")
        self.host, self.port = parse_endpoint(endpoint)
        self.dialect = dialect
        self._messages = liveface_messages if dialect == "liveface" else vmc_messages
        self._client = UDPClient(resolve(self.host, self.port), self.port)
        self.counts = OscCounts()

    def close(self) -> None:
        self._client.close()

    def send(self, frame: LiveFrame) -> None:
        bundle = OscBundleBuilder(IMMEDIATELY)
        for message in self._messages(frame):
            bundle.add_content(message.build())
        try:
            self._client.send(bundle.build())
        except OSError:
            self.counts.failed += 1
            return
        self.counts.sent += 1

    def to_dict(self) -> dict:
        return {"to": f"{self.host}:{self.port}", "dialect": self.dialect,
                "sent": self.counts.sent, "failed": self.counts.failed}
