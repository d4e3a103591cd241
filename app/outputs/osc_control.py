"""Control by OSC: another program (a phone's OSC app, a stream deck, a VR overlay) sets
the emotion and mute of a running session, which a headset user cannot reach on the
desktop.

    /liveface/emotion    name [intensity]    one of the eight emotions; intensity 0..1
    /liveface/intensity  value               the current emotion's intensity
    /liveface/mute       0 | 1

A message that does not fit (an unknown address, a bad name, a value out of range) is
counted and otherwise ignored; it never stops the session.
"""

from dataclasses import dataclass

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from app.avatar.emotions import EMOTIONS
from app.errors import LivefaceError
from app.outputs.osc import parse_endpoint, resolve

POLL_S = 0.1  # how long one wait for a message lasts (the worker checks for stop between)


@dataclass
class ControlCounts:
    applied: int = 0
    rejected: int = 0


class OscControl:
    """Listens on HOST:PORT (or PORT, this machine only) and applies what it hears to the
    `pipeline` given to it once it exists (the port is taken at once, so a busy one is an
    error before any window opens). `serve_once` handles at most one message; the caller's
    thread loops."""

    def __init__(self, endpoint: str, pipeline=None):
        host, port = parse_endpoint(endpoint)
        self.pipeline = pipeline
        self.counts = ControlCounts()
        dispatcher = Dispatcher()
        dispatcher.map("/liveface/emotion", self._emotion)
        dispatcher.map("/liveface/intensity", self._intensity)
        dispatcher.map("/liveface/mute", self._mute)
        dispatcher.set_default_handler(self._unknown)
        try:
            self.server = BlockingOSCUDPServer((resolve(host, port), port), dispatcher)
        except OSError as err:
            raise LivefaceError(f"cannot listen for OSC control on {endpoint}: "
                                f"{err.strerror}.") from None
        self.server.timeout = POLL_S
        self.port = self.server.server_address[1]

    def serve_once(self) -> None:
        self.server.handle_request()

    def close(self) -> None:
        self.server.server_close()

    def _emotion(self, _address, *args) -> None:
        if not args or args[0] not in EMOTIONS:
            return self._reject()
        intensity = args[1] if len(args) > 1 else self.pipeline.status.intensity
        self._apply_emotion(args[0], intensity)

    def _intensity(self, _address, *args) -> None:
        if len(args) != 1:
            return self._reject()
        self._apply_emotion(self.pipeline.status.emotion, args[0])

    def _apply_emotion(self, name: str, intensity) -> None:
        if isinstance(intensity, bool) or not isinstance(intensity, int | float) \
                or not 0.0 <= intensity <= 1.0:
            return self._reject()
        self.pipeline.set_emotion(name, float(intensity))
        self.counts.applied += 1

    def _mute(self, _address, *args) -> None:
        if len(args) != 1 or args[0] not in (0, 1, True, False):
            return self._reject()
        self.pipeline.muted = bool(args[0])
        self.counts.applied += 1

    def _unknown(self, _address, *args) -> None:
        self._reject()

    def _reject(self) -> None:
        self.counts.rejected += 1

    def to_dict(self) -> dict:
        return {"port": self.port, "applied": self.counts.applied,
                "rejected": self.counts.rejected}
