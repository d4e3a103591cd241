"""`--livelink`: the Live Link Face app's UDP packets over a real socket on loopback,
received and taken apart here the way Unreal's Live Link Face source reads them (packet
version 6: version, device id, subject name, frame time, frame rate, 61 curves, all in
network byte order), with the curve order spelt out from Unreal's EARFaceBlendShape enum
rather than imported."""

import argparse
import math
import re
import socket
import struct
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pytest

from app.audio.sources import SyntheticSource
from app.avatar.rig import RIG_INDEX, RIG_SIZE, rig_from_weights
from app.errors import LivefaceError
from app.live.animators import LoudnessAnimator
from app.live.cli_common import add_live_arguments, livelink_options
from app.live.clock import MonotonicClock
from app.live.mailbox import LiveFrame
from app.live.output_worker import OutputWorker
from app.live.pipeline import LivePipeline
from app.outputs.livelink import LiveLinkSender

# Unreal's EARFaceBlendShape, value by value (the order the packet's floats come in).
UNREAL_CURVES = [
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthLeft",
    "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp",
    "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut", "HeadYaw",
    "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
    "RightEyePitch", "RightEyeRoll",
]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NOON_S = 12 * 3600.0


@dataclass
class Packet:
    version: int
    device_id: str
    subject: str
    frame_number: int
    sub_frame: float
    rate: tuple[int, int]
    curves: dict[str, float]


def read_packet(data: bytes) -> Packet:
    """One datagram, field by field as Unreal reads it; anything left over is an error."""
    offset = 0

    def take(fmt: str):
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values

    def text() -> str:
        nonlocal offset
        length, = take(">i")
        assert 0 < length <= 256
        value = data[offset:offset + length].decode("utf-8")
        offset += length
        return value

    version, = take(">B")
    device_id, subject = text(), text()
    frame_number, sub_frame, numerator, denominator, count = take(">ifiiB")
    values = take(f">{count}f")
    assert offset == len(data) and count == len(UNREAL_CURVES)
    return Packet(version, device_id, subject, frame_number, sub_frame,
                  (numerator, denominator), dict(zip(UNREAL_CURVES, values)))


class Unreal:
    """A UDP socket on loopback in Unreal's place, read by a thread of its own that keeps
    every datagram with its arrival time."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.endpoint = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.arrivals: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.socket.recv(2048)
            except TimeoutError:
                continue
            self.arrivals.append((time.monotonic(), data))

    def receive(self, count: int | None = None, timeout_s: float = 5.0) -> list[Packet]:
        """Every packet so far, once `count` have come (with None: once the line has been
        quiet for a moment)."""
        deadline_s = time.monotonic() + timeout_s
        seen = -1
        while time.monotonic() < deadline_s:
            if count is not None and len(self.arrivals) >= count:
                break
            if count is None and seen == len(self.arrivals):
                break
            seen = len(self.arrivals)
            time.sleep(0.2)
        return [read_packet(data) for _, data in list(self.arrivals)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def unreal():
    receiver = Unreal()
    yield receiver
    receiver.close()


def frame_of(rig, index: int = 0) -> LiveFrame:
    return LiveFrame(index, np.asarray(rig, np.float32), np.zeros(6, np.float32),
                     np.zeros(6, np.float32), 0.0, 0.0)


def test_a_frame_arrives_as_the_apps_packet(unreal):
    face = rig_from_weights({"jawOpen": 0.7, "jawLeft": 0.4, "mouthLeft": 0.3,
                             "mouthSmileRight": 0.6, "eyeBlinkLeft": 1.0, "tongueOut": 0.2,
                             "headPitch": 0.3, "headYaw": -0.5, "headRoll": 0.1,
                             "gazeYaw": 0.25, "gazePitch": -0.2})
    sender = LiveLinkSender(unreal.endpoint, "Speaker 1", clock_s=lambda: NOON_S + 0.5)
    sender.send(frame_of(face, index=7))
    sender.send(frame_of(face, index=8))
    sender.close()
    first, second = unreal.receive(2)
    assert first.version == 6 and UUID.match(first.device_id)
    assert first.subject == "Speaker 1" and first.rate == (50, 1)
    assert first.frame_number == round((NOON_S + 0.5) * 50) and first.sub_frame == 0.0
    assert second.frame_number == first.frame_number + 1  # one per model frame
    assert second.device_id == first.device_id  # the same device from frame to frame
    curves = first.curves
    assert curves["JawOpen"] == pytest.approx(0.7) and curves["JawLeft"] == pytest.approx(0.4)
    assert curves["JawRight"] == 0.0 and curves["MouthLeft"] == pytest.approx(0.3)
    assert curves["MouthSmileRight"] == pytest.approx(0.6)
    assert curves["EyeBlinkLeft"] == 1.0 and curves["TongueOut"] == pytest.approx(0.2)
    # angles as Unreal's ARKit source sends them: degrees / 180, i.e. radians / pi
    assert curves["HeadPitch"] == pytest.approx(0.3 / math.pi)
    assert curves["HeadYaw"] == pytest.approx(-0.5 / math.pi)
    assert curves["HeadRoll"] == pytest.approx(0.1 / math.pi)
    for eye in ("LeftEye", "RightEye"):
        assert curves[eye + "Yaw"] == pytest.approx(0.25 / math.pi)
        assert curves[eye + "Pitch"] == pytest.approx(-0.2 / math.pi)
        assert curves[eye + "Roll"] == 0.0
    assert sender.to_dict() == {"to": unreal.endpoint, "dialect": "livelink",
                                "subject": "Speaker 1", "sent": 2, "failed": 0}


def test_every_value_stays_in_its_range_whatever_the_rig_holds(unreal):
    rng = np.random.default_rng(5)
    wild = [rng.uniform(-9.0, 9.0, RIG_SIZE) for _ in range(5)]
    wild[1][:30] = np.nan
    wild[2][RIG_INDEX["headYaw"]] = np.inf
    sender = LiveLinkSender(unreal.endpoint, clock_s=lambda: 0.0)
    for index, rig in enumerate(wild):
        sender.send(frame_of(rig, index))
    sender.close()
    packets = unreal.receive(len(wild))
    assert [p.frame_number for p in packets] == list(range(len(wild)))
    for packet in packets:
        values = list(packet.curves.values())
        assert all(math.isfinite(v) for v in values)
        assert all(0.0 <= v <= 1.0 for v in values[:52])
        assert all(-1.0 <= v <= 1.0 for v in values[52:])
    assert packets[1].curves["EyeBlinkLeft"] == 0.0  # NaN is sent as rest


def test_fifty_packets_a_second_through_the_live_path(unreal):
    """The stand-in animator on the synthetic voice for 1.5 s, its frames sent by the
    output worker: a packet per model frame, numbered one after another, with the voice
    and its pauses in JawOpen."""
    sender = LiveLinkSender(unreal.endpoint)
    worker = OutputWorker([sender.send])
    clock = MonotonicClock()
    worker.start()
    try:
        with LivePipeline(SyntheticSource(clock, pattern_s=(0.6, 0.2)), LoudnessAnimator(),
                          clock, sinks=[worker.offer]):
            time.sleep(1.5)
    finally:
        worker.stop()
        sender.close()
    packets = unreal.receive()
    times = [t for t, _ in unreal.arrivals]
    per_s = (len(times) - 1) / (times[-1] - times[0])
    assert len(packets) >= 60 and 40.0 <= per_s <= 60.0, (len(packets), per_s)
    numbers = [p.frame_number for p in packets]
    assert np.all(np.diff(numbers) >= 1)  # never back, never twice
    assert numbers[-1] - numbers[0] <= len(numbers) - 1 + worker.dropped
    jaw = [p.curves["JawOpen"] for p in packets]
    assert max(jaw) > 0.3 and min(jaw) < 0.05
    assert sender.counts.failed == 0


def test_the_live_flags_and_the_factory(unreal):
    from app.live.factory import make_outputs, output_stats, start_outputs

    parser = argparse.ArgumentParser()
    add_live_arguments(parser)
    assert livelink_options(parser.parse_args([])) is None
    assert livelink_options(parser.parse_args(["--livelink"])) == ("127.0.0.1:11111",
                                                                   "liveface")
    options = livelink_options(parser.parse_args(
        ["--livelink", unreal.endpoint, "--livelink-subject", "Desk"]))
    assert options == (unreal.endpoint, "Desk")
    for endpoint, host in (("10.0.0.7", "10.0.0.7"), ("[::1]", "::1")):
        sender = LiveLinkSender(endpoint)  # HOST alone: Unreal's port
        assert (sender.host, sender.port) == (host, 11111)
        sender.close()
    with ExitStack() as stack:
        outputs = make_outputs(None, None, None, options)
        worker = start_outputs(stack, outputs)
        worker.offer(frame_of(rig_from_weights({"jawOpen": 0.5})))
        packet, = unreal.receive(1)
    stats = output_stats(outputs, worker)  # the worker has stopped: its counts are final
    assert packet.subject == "Desk" and packet.curves["JawOpen"] == pytest.approx(0.5)
    assert stats[0]["dialect"] == "livelink" and stats[0]["sent"] == 1


def test_bad_endpoints_and_names_are_clear_errors():
    for bad in ("127.0.0.1:port", "127.0.0.1:0", "host:"):
        with pytest.raises(LivefaceError, match="HOST:PORT"):
            LiveLinkSender(bad)
    with pytest.raises(LivefaceError, match="cannot resolve"):
        LiveLinkSender("no-such-host.invalid")
    for name in ("", "x" * 256):
        with pytest.raises(LivefaceError, match="subject name"):
            LiveLinkSender("127.0.0.1", name)
