"""The animation as a VRChat avatar's face-tracking parameters, over OSC (`--vrchat`).

VRChat takes `/avatar/parameters/<name> <value>` on its OSC input port (9000 on the same
machine by default), one message per parameter; avatars made for face tracking name theirs
after VRCFaceTracking's unified expressions v2 (`v2/JawOpen`, `v2/SmileFrownLeft`, ...,
app/outputs/vrchat_params.py). Every model frame (50 a second) sends every parameter, so
each one is refreshed 50 times a second.

Avatars short of parameter memory carry a value in a few bools instead of a float:
`v2/JawOpen1`, `v2/JawOpen2`, `v2/JawOpen4`, ... and `v2/JawOpenNegative` for the sign of a
signed one (VRCFaceTracking's binary parameters). `--vrchat-binary BITS` sends those
instead of floats.

VRChat says on its OSC output port (9001) which avatar was loaded (`/avatar/change`) and
every parameter of it that changes (`/avatar/parameters/<name>`). `AvatarListener` records
those names; once the avatar has named any v2 parameter, only the ones it named are sent,
to the address it used (a prefix such as `FT/v2/JawOpen` is kept), as float or bits as the
avatar has them. A new avatar starts the record again.
"""

import socket
import struct
import threading
from dataclasses import dataclass

import numpy as np
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing.osc_types import write_string

from app.errors import LivefaceError, notice
from app.live.mailbox import LiveFrame
from app.outputs.osc import parse_endpoint, resolve
from app.outputs.vrchat_params import (
    PARAMETER_PREFIX,
    V2_NAMES,
    V2_SIGNED,
    binary_bit,
    v2_values,
)

DEFAULT_ENDPOINT = "127.0.0.1:9000"  # VRChat's OSC input
DEFAULT_LISTEN = "9001"  # VRChat's OSC output
ADDRESS_PREFIX = "/avatar/parameters/"
MAX_BITS = 8  # VRCFaceTracking's binary parameters go up to Name128
POLL_S = 0.1  # how long one wait for a message from VRChat lasts


@dataclass(frozen=True)
class VRChatOptions:
    endpoint: str = DEFAULT_ENDPOINT
    listen: str | None = DEFAULT_LISTEN  # [HOST:]PORT for VRChat's replies; None: off
    binary_bits: int = 0  # 0: floats; else this many bools per parameter


@dataclass(frozen=True)
class Target:
    """One avatar parameter to write: parameter `index` (into V2_NAMES) as a float
    (`shift` None), as bit `shift` of `bits`, or as its sign (`shift` -1)."""

    path: str  # after /avatar/parameters/, e.g. "v2/JawOpen4"
    index: int
    shift: int | None = None
    bits: int = 0

    def value(self, values: np.ndarray) -> float | bool:
        v = float(values[self.index])
        if self.shift is None:
            return v
        if self.shift < 0:
            return v < 0.0
        return binary_bit(v, self.shift, self.bits)


def default_targets(binary_bits: int) -> list[Target]:
    """Every v2 parameter, as a float or as `binary_bits` bools (and a sign when signed)."""
    targets = []
    for index, name in enumerate(V2_NAMES):
        path = PARAMETER_PREFIX + name
        if not binary_bits:
            targets.append(Target(path, index))
            continue
        targets += [Target(f"{path}{1 << k}", index, k, binary_bits) for k in range(binary_bits)]
        if V2_SIGNED[index]:
            targets.append(Target(f"{path}Negative", index, -1))
    return targets


def _candidates() -> dict[str, tuple[int, int | None]]:
    """'v2/Name', 'v2/Name<2**k>' and 'v2/NameNegative' -> (index, shift)."""
    names = {}
    for index, name in enumerate(V2_NAMES):
        path = PARAMETER_PREFIX + name
        names[path] = (index, None)
        names.update({f"{path}{1 << k}": (index, k) for k in range(MAX_BITS)})
        names[f"{path}Negative"] = (index, -1)
    return names


_CANDIDATES = _candidates()


def reported_targets(reported: set[str]) -> list[Target]:
    """The targets an avatar's reported parameter names (after /avatar/parameters/) ask
    for; empty when it named no v2 parameter. A parameter written in bits gets as many bits
    as the avatar has for it."""
    found: list[tuple[str, int, int | None]] = []
    for path in sorted(reported):
        if PARAMETER_PREFIX not in path:
            continue
        tail = PARAMETER_PREFIX + path.rsplit(PARAMETER_PREFIX, 1)[1]
        if tail in _CANDIDATES:
            found.append((path, *_CANDIDATES[tail]))
    bits = {}
    for _, index, shift in found:
        if shift is not None and shift >= 0:
            bits[index] = bits.get(index, 0) + 1
    return [Target(path, index, shift, bits.get(index, 0)) for path, index, shift in found]


class AvatarListener:
    """Listens where VRChat sends its OSC output and records the avatar parameters it
    names. `serve_once` handles at most one message; the caller's thread loops."""

    def __init__(self, endpoint: str):
        host, port = parse_endpoint(endpoint)
        dispatcher = Dispatcher()
        dispatcher.map("/avatar/change", self._avatar_changed)
        dispatcher.set_default_handler(self._message)
        self.server = BlockingOSCUDPServer((resolve(host, port), port), dispatcher)
        self.server.timeout = POLL_S
        self.port = self.server.server_address[1]
        self._lock = threading.Lock()  # held to read or change the record, no longer
        self._reported: set[str] = set()
        self.version = 0  # changes whenever the record does
        self.avatar_changes = 0

    def serve_once(self) -> None:
        self.server.handle_request()

    def close(self) -> None:
        self.server.server_close()

    def reported(self) -> tuple[int, frozenset[str]]:
        """(version, the parameter names VRChat has named since the last avatar change)."""
        with self._lock:
            return self.version, frozenset(self._reported)

    def _avatar_changed(self, _address, *args) -> None:
        with self._lock:
            self._reported.clear()
            self.version += 1
            self.avatar_changes += 1

    def _message(self, address: str, *args) -> None:
        if not address.startswith(ADDRESS_PREFIX):
            return
        path = address[len(ADDRESS_PREFIX):]
        with self._lock:
            if path not in self._reported:
                self._reported.add(path)
                self.version += 1


def open_listener(listen: str | None) -> AvatarListener | None:
    """The listener on `listen` ([HOST:]PORT), or None when it is off or the port is taken
    (another program, VRCFaceTracking for one, already reads VRChat's output)."""
    if listen is None:
        return None
    try:
        return AvatarListener(listen)
    except OSError as err:
        notice(f"cannot listen for VRChat's avatar parameters on {listen} ({err.strerror}); "
               "sending every v2 parameter (--vrchat-listen PORT to listen elsewhere).")
        return None


@dataclass
class VRChatCounts:
    sent: int = 0  # frames whose messages all went out
    failed: int = 0  # frames with a message that could not be sent


class VRChatSender:
    """A frame sink: `send(frame)` after every model frame. The listener, when there is
    one, needs a thread calling its `serve_once` (app/live/output_worker.py)."""

    def __init__(self, options: VRChatOptions):
        if not 0 <= options.binary_bits <= MAX_BITS:
            raise LivefaceError(f"--vrchat-binary takes 1 to {MAX_BITS} bits.")
        self.host, self.port = parse_endpoint(options.endpoint)
        self.options = options
        address = resolve(self.host, self.port)
        self._to = (address, self.port)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self.listener = open_listener(options.listen)
        self._defaults = default_targets(options.binary_bits)
        self._version = -1
        self.targets = self._defaults
        self._heads: list[bytes] = []
        self.counts = VRChatCounts()

    def close(self) -> None:
        self._socket.close()
        if self.listener is not None:
            self.listener.close()

    def send(self, frame: LiveFrame) -> None:
        self._follow_avatar()
        values = v2_values(frame.rig)
        try:
            for target, head in zip(self.targets, self._heads):
                self._socket.sendto(_datagram(head, target.value(values)), self._to)
        except OSError:
            self.counts.failed += 1
            return
        self.counts.sent += 1

    def _follow_avatar(self) -> None:
        """Re-plan the targets when the listener's record has changed."""
        version, reported = (0, frozenset()) if self.listener is None else self.listener.reported()
        if version == self._version:
            return
        self._version = version
        self.targets = reported_targets(set(reported)) or self._defaults
        self._heads = [write_string(ADDRESS_PREFIX + t.path) for t in self.targets]

    def to_dict(self) -> dict:
        listener = self.listener
        return {"to": f"{self.host}:{self.port}", "dialect": "vrchat",
                "sent": self.counts.sent, "failed": self.counts.failed,
                "parameters": len(self.targets),
                "listen_port": None if listener is None else listener.port,
                "avatar_changes": 0 if listener is None else listener.avatar_changes}


_FLOAT_TAG = write_string(",f")
_TRUE_TAG, _FALSE_TAG = write_string(",T"), write_string(",F")


def _datagram(head: bytes, value: float | bool) -> bytes:
    """One OSC message: the padded address, then a float or a bool (which has no payload)."""
    if isinstance(value, bool):
        return head + (_TRUE_TAG if value else _FALSE_TAG)
    return head + _FLOAT_TAG + struct.pack(">f", value)
