"""Streams to other programs: OSC bundles over real UDP sockets on loopback, received by
python-osc's own server, in both dialects, through the live pipeline and its output
worker."""

import socket
import threading
import time

import numpy as np
import pytest

from app.audio.sources import SyntheticSource
from app.avatar.rig import ARKIT_NAMES, RIG_INDEX, RIG_SIZE
from app.errors import LivefaceError
from app.live.animators import LoudnessAnimator
from app.live.clock import MonotonicClock
from app.live.mailbox import LiveFrame
from app.live.output_worker import OutputWorker
from app.live.pipeline import LivePipeline
from app.outputs.osc import OscSender, parse_endpoint
from tests.osc_receiver import Receiver, free_udp_port


def run_pipeline(sender: OscSender, seconds: float) -> list[LiveFrame]:
    """The stand-in animator on the synthetic voice, its frames sent through an output
    worker; returns the frames the model published."""
    published = []
    worker = OutputWorker([sender.send])
    clock = MonotonicClock()
    worker.start()
    try:
        with LivePipeline(SyntheticSource(clock, pattern_s=(0.6, 0.2)), LoudnessAnimator(),
                          clock, sinks=[published.append, worker.offer]):
            time.sleep(seconds)
    finally:
        worker.stop()
    assert worker.sent + worker.dropped == len(published)  # each frame sent or counted
    assert worker.dropped <= 0.05 * len(published)  # a loaded machine may shed a few
    return published


def test_endpoints_are_checked():
    assert parse_endpoint("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_endpoint(":39540") == parse_endpoint("39540") == ("127.0.0.1", 39540)
    assert parse_endpoint("[::1]:9000") == ("::1", 9000)
    for bad in ("host:", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:port"):
        with pytest.raises(LivefaceError, match="HOST:PORT"):
            parse_endpoint(bad)
    for unresolvable in ("no-such-host.invalid:9000", "a" * 70 + ":9000"):
        with pytest.raises(LivefaceError, match="cannot resolve"):
            OscSender(unresolvable)
    with pytest.raises(LivefaceError, match="dialect"):
        OscSender("127.0.0.1:9000", "midi")


def test_every_frame_arrives_whole_in_the_liveface_dialect():
    with Receiver() as receiver:
        sender = OscSender(receiver.endpoint, "liveface")
        published = run_pipeline(sender, 1.0)
    rigs = receiver.addressed("/liveface/rig")
    indices = [args[0] for args in receiver.addressed("/liveface/frame")]
    assert len(published) > 30 and sender.counts.sent >= 0.95 * len(published)
    assert len(rigs) == len(indices) >= 0.95 * sender.counts.sent  # UDP, even on loopback
    by_index = {frame.index: frame for frame in published}
    for index, rig in zip(indices, rigs):
        assert len(rig) == RIG_SIZE
        np.testing.assert_allclose(rig, by_index[index].rig, atol=1e-6)
    jaw = np.array([rig[RIG_INDEX["jawOpen"]] for rig in rigs])
    assert jaw.max() > 0.3 and jaw.min() < 0.05  # the voice and its pauses came through
    assert len(receiver.addressed("/liveface/wrinkle")) == len(rigs)


def test_the_vmc_dialect_sends_named_blendshapes_then_apply():
    with Receiver() as receiver:
        sender = OscSender(receiver.endpoint, "vmc")
        published = run_pipeline(sender, 0.6)
    values = receiver.addressed("/VMC/Ext/Blend/Val")
    applies = receiver.addressed("/VMC/Ext/Blend/Apply")
    assert len(applies) >= 0.95 * len(published) and len(values) == 52 * len(applies)
    assert {name for name, _ in values} == set(ARKIT_NAMES)
    assert all(0.0 <= weight <= 1.0 for _, weight in values)
    jaw = [weight for name, weight in values if name == "jawOpen"]
    assert max(jaw) > 0.3


def test_a_send_that_fails_is_counted_and_the_stream_goes_on():
    sender = OscSender("255.255.255.255:9000", "liveface")  # broadcast, not allowed
    frame = LiveFrame(0, np.zeros(RIG_SIZE, np.float32), np.zeros(6, np.float32),
                      np.zeros(6, np.float32), 0.0, 0.0)
    for _ in range(3):
        sender.send(frame)
    assert sender.counts.failed == 3 and sender.counts.sent == 0
    assert sender.to_dict()["failed"] == 3


def test_a_slow_stream_drops_the_oldest_frames_never_the_model():
    """While the sender is stuck, the model's side keeps offering (it never waits for a
    send); the queue keeps the newest frames and counts the ones pushed out."""
    release, sent = threading.Event(), []

    def stuck_send(frame):
        release.wait(10.0)
        sent.append(frame.index)

    worker = OutputWorker([stuck_send])
    worker.start()
    template = LiveFrame(0, np.zeros(RIG_SIZE, np.float32), np.zeros(6, np.float32),
                         np.zeros(6, np.float32), 0.0, 0.0)
    for index in range(40):
        worker.offer(LiveFrame(index, template.rig, template.wrinkle, template.flush, 0.0, 0.0))
    assert not release.is_set() and len(sent) == 0  # all 40 offered while the send hung
    release.set()
    worker.stop()  # sends what still waits
    assert worker.dropped > 0 and worker.sent == len(sent) == 40 - worker.dropped
    assert sent == sorted(sent) and sent[-1] == 39  # the newest went out, in order


# -- control by OSC ---------------------------------------------------------------------------
def test_osc_messages_set_emotion_and_mute_and_bad_ones_are_ignored():
    from pythonosc.udp_client import SimpleUDPClient

    from app.live.control_worker import ControlWorker
    from app.outputs.osc_control import OscControl

    clock = MonotonicClock()
    pipeline = LivePipeline(SyntheticSource(clock), LoudnessAnimator(), clock)
    control = OscControl(str(free_udp_port()), pipeline)
    worker = ControlWorker(control)
    worker.start()
    client = SimpleUDPClient("127.0.0.1", control.port)

    def settled(check) -> bool:
        deadline_s = time.monotonic() + 5.0
        while time.monotonic() < deadline_s and not check():
            time.sleep(0.01)
        return check()

    try:
        client.send_message("/liveface/emotion", ["happy", 0.8])
        assert settled(lambda: (pipeline.status.emotion, pipeline.status.intensity)
                       == ("happy", pytest.approx(0.8)))
        client.send_message("/liveface/intensity", 0.3)
        assert settled(lambda: pipeline.status.intensity == pytest.approx(0.3))
        client.send_message("/liveface/mute", 1)
        assert settled(lambda: pipeline.status.muted)
        for address, value in (("/liveface/emotion", ["bored", 0.5]),
                               ("/liveface/intensity", 7.0), ("/liveface/mute", "yes"),
                               ("/liveface/volume", 0.5)):
            client.send_message(address, value)
        assert settled(lambda: control.counts.rejected == 4)
        assert pipeline.status.emotion == "happy" and pipeline.status.muted
        assert control.to_dict()["applied"] == 3 and worker.running
    finally:
        worker.stop()


def test_a_port_in_use_is_a_clear_error():
    from app.outputs.osc_control import OscControl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(LivefaceError, match="cannot listen for OSC control"):
            OscControl(str(taken.getsockname()[1]))
