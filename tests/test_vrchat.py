"""`--vrchat`: a VRChat avatar's face-tracking parameters (VRCFaceTracking unified
expressions v2) over real UDP on loopback, received by python-osc's own server in VRChat's
place; VRChat's replies (the avatar's parameter names) sent back by python-osc's client."""

import argparse
import math
import socket
import time

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from app.audio.sources import SyntheticSource
from app.avatar.rig import RIG_INDEX, RIG_SIZE, rig_from_weights
from app.errors import LivefaceError
from app.live.animators import LoudnessAnimator
from app.live.cli_common import add_live_arguments, vrchat_options
from app.live.clock import MonotonicClock
from app.live.mailbox import LiveFrame
from app.live.output_worker import OutputWorker, ReplyWorker
from app.live.pipeline import LivePipeline
from app.outputs.vrchat import VRChatOptions, VRChatSender, reported_targets
from app.outputs.vrchat_params import V2_NAMES, binary_bit
from tests.osc_receiver import Receiver, free_udp_port

PREFIX = "/avatar/parameters/"
# The signed (-1..1) ones among the parameters sent, as docs.vrcft.io lists them; every
# other v2 parameter is 0..1.
DOCUMENTED_SIGNED = {
    "EyeX", "EyeY", "EyeLeftX", "EyeLeftY", "EyeRightX", "EyeRightY",
    "BrowExpressionLeft", "BrowExpressionRight", "BrowExpression",
    "CheekPuffSuckLeft", "CheekPuffSuckRight", "CheekPuffSuck", "JawX", "JawZ",
    "MouthUpperX", "MouthLowerX", "MouthX", "SmileFrownLeft", "SmileFrownRight", "SmileFrown",
}


def frame_of(rig: np.ndarray, index: int = 0) -> LiveFrame:
    return LiveFrame(index, np.asarray(rig, np.float32), np.zeros(6, np.float32),
                     np.zeros(6, np.float32), 0.0, 0.0)


def settled(check, timeout_s: float = 5.0) -> bool:
    deadline_s = time.monotonic() + timeout_s
    while time.monotonic() < deadline_s and not check():
        time.sleep(0.01)
    return check()


def send_slowly(sender: VRChatSender, rigs) -> None:
    """One frame at a time, with room for the stand-in to read each (110 datagrams)."""
    for index, rig in enumerate(rigs):
        sender.send(frame_of(rig, index))
        time.sleep(0.05)


def test_every_v2_parameter_is_sent_by_name_within_its_documented_range():
    rng = np.random.default_rng(3)
    wild = [rng.uniform(-3.0, 3.0, RIG_SIZE) for _ in range(6)]  # far outside the rig
    wild[2][:20] = np.nan
    wild[3][RIG_INDEX["gazeYaw"]] = np.inf
    face = rig_from_weights({"jawOpen": 0.7, "mouthSmileLeft": 0.6, "mouthFrownLeft": 0.2,
                             "eyeBlinkLeft": 1.0, "gazeYaw": 0.3, "gazePitch": -0.2,
                             "jawLeft": 0.4})
    with Receiver() as vrchat:
        sender = VRChatSender(VRChatOptions(vrchat.endpoint, listen=None))
        send_slowly(sender, [*wild, face])
        sender.close()
    values = vrchat.values()
    assert set(values) == {PREFIX + "v2/" + name for name in V2_NAMES}
    assert {"JawOpen", "MouthClosed", "LipFunnel", "LipPucker", "MouthSmileLeft",
            "MouthSmileRight", "EyeLidLeft", "EyeClosedRight", "BrowInnerUp",
            "TongueOut", "JawX", "SmileFrownLeft", "EyeLeftX", "EyeY",
            "BrowUpLeft"} <= set(V2_NAMES)
    for address, sent in values.items():
        name = address.removeprefix(PREFIX + "v2/")
        low = -1.0 if name in DOCUMENTED_SIGNED else 0.0
        assert len(sent) >= 6, address  # a datagram or two may go missing, not a frame's worth
        assert all(isinstance(v, float) and math.isfinite(v) and low <= v <= 1.0
                   for v in sent), (address, sent)
    last = {address.removeprefix(PREFIX + "v2/"): sent[-1] for address, sent in values.items()}
    assert last["JawOpen"] == pytest.approx(0.7)
    assert last["SmileFrownLeft"] == pytest.approx(0.4)
    assert last["EyeLidLeft"] == pytest.approx(0.0) and last["EyeLidRight"] == pytest.approx(0.75)
    assert last["JawX"] == pytest.approx(-0.4)  # jaw to the avatar's left
    assert last["EyeX"] == pytest.approx(math.tan(-0.3), abs=1e-5)  # the avatar's left is -X
    assert last["EyeY"] == pytest.approx(math.tan(-0.2), abs=1e-5)  # looking down


def test_each_parameter_goes_out_at_least_30_times_a_second_through_the_live_path():
    """The stand-in animator on the synthetic voice for 1.5 s, its frames sent by the
    output worker; once VRChat has named the avatar's parameters only those go out, each
    at the model's 50 frames a second."""
    avatar = ["v2/JawOpen", "FT/v2/SmileFrownLeft", "v2/EyeLidLeft", "v2/MouthClosed",
              "VelocityZ", "v2/NotAParameter"]
    with Receiver() as vrchat:
        sender = VRChatSender(VRChatOptions(vrchat.endpoint, listen=str(free_udp_port())))
        replies = ReplyWorker(sender.listener)
        replies.start()
        game = SimpleUDPClient("127.0.0.1", sender.listener.port)
        game.send_message("/avatar/change", "avtr_test")
        for path in avatar:
            game.send_message(PREFIX + path, 0.0)
        assert settled(lambda: len(sender.listener.reported()[1]) == len(avatar))
        worker = OutputWorker([sender.send])
        clock = MonotonicClock()
        worker.start()
        try:
            with LivePipeline(SyntheticSource(clock, pattern_s=(0.6, 0.2)), LoudnessAnimator(),
                              clock, sinks=[worker.offer]):
                time.sleep(1.5)
        finally:
            worker.stop()
            replies.stop()
            sender.close()
    assert set(vrchat.values()) == {PREFIX + p for p in avatar[:4]}
    for address in vrchat.values():
        times = [t for t, a, _ in vrchat.arrivals if a == address]
        per_s = (len(times) - 1) / (times[-1] - times[0])
        assert len(times) >= 45 and per_s >= 30.0, (address, len(times), per_s)
    jaw = vrchat.values()[PREFIX + "v2/JawOpen"]
    assert max(jaw) > 0.3 and min(jaw) < 0.05  # the voice and its pauses came through
    assert sender.to_dict()["parameters"] == 4 and sender.counts.failed == 0


def test_a_new_avatar_resets_the_record_and_binary_avatars_get_bits():
    with Receiver() as vrchat:
        sender = VRChatSender(VRChatOptions(vrchat.endpoint, listen=str(free_udp_port())))
        listener, game = sender.listener, SimpleUDPClient("127.0.0.1", sender.listener.port)

        def hear(count: int) -> None:
            while len(listener.reported()[1]) < count:
                listener.serve_once()

        for path in ("v2/JawOpen1", "v2/JawOpen2", "v2/JawOpen4", "v2/JawX1", "v2/JawX2",
                     "v2/JawXNegative"):
            game.send_message(PREFIX + path, False)
        hear(6)
        send_slowly(sender, [rig_from_weights({"jawOpen": 0.6, "jawLeft": 0.8})])
        game.send_message("/avatar/change", "avtr_other")
        while listener.avatar_changes == 0:
            listener.serve_once()
        send_slowly(sender, [rig_from_weights({"jawOpen": 0.6})])
        sender.close()
    first = {a: args[0] for _, a, args in vrchat.arrivals[:6]}
    # JawOpen 0.6 on 3 bits: int(0.6 * 8) = 4 = 0b100; JawX -0.8 on 2 bits: int(0.8 * 4) = 3
    assert first == {PREFIX + "v2/JawOpen1": False, PREFIX + "v2/JawOpen2": False,
                     PREFIX + "v2/JawOpen4": True, PREFIX + "v2/JawX1": True,
                     PREFIX + "v2/JawX2": True, PREFIX + "v2/JawXNegative": True}
    after = {a for _, a, _ in vrchat.arrivals[6:]}
    assert after == {PREFIX + "v2/" + name for name in V2_NAMES}  # everything again


def test_binary_option_sends_bits_until_the_avatar_names_its_own():
    with Receiver() as vrchat:
        sender = VRChatSender(VRChatOptions(vrchat.endpoint, listen=None, binary_bits=4))
        send_slowly(sender, [rig_from_weights({"jawOpen": 1.0, "jawLeft": 0.5})])
        sender.close()
    values = {a: args[0] for _, a, args in vrchat.arrivals}
    assert all(isinstance(v, bool) for v in values.values())
    assert [values[f"{PREFIX}v2/JawOpen{n}"] for n in (1, 2, 4, 8)] == [True] * 4
    assert f"{PREFIX}v2/JawOpenNegative" not in values  # unit parameters have no sign
    assert values[f"{PREFIX}v2/JawXNegative"] is True
    assert [values[f"{PREFIX}v2/JawX{n}"] for n in (1, 2, 4, 8)] == [False, False, False, True]
    assert binary_bit(0.5, 3, 4) and not binary_bit(0.49, 3, 4)


def test_reported_names_choose_float_or_bits_and_keep_prefixes():
    targets = reported_targets({"FT/v2/JawOpen", "v2/MouthClosed2", "v2/MouthClosed1",
                                "v2/JawOpenX", "Face/v2/EyeLeftX", "v2/Unknown", "Other"})
    assert [(t.path, t.shift, t.bits) for t in targets] == [
        ("FT/v2/JawOpen", None, 0), ("Face/v2/EyeLeftX", None, 0),
        ("v2/MouthClosed1", 0, 2), ("v2/MouthClosed2", 1, 2)]
    assert reported_targets({"VelocityZ", "GestureLeft"}) == []


def test_bad_endpoints_are_clear_errors_and_a_taken_listen_port_is_skipped(capsys):
    for bad in ("127.0.0.1:port", "127.0.0.1:0", "host:"):
        with pytest.raises(LivefaceError, match="HOST:PORT"):
            VRChatSender(VRChatOptions(bad, listen=None))
    with pytest.raises(LivefaceError, match="cannot resolve"):
        VRChatSender(VRChatOptions("no-such-host.invalid:9000", listen=None))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        sender = VRChatSender(VRChatOptions("127.0.0.1:9000", str(taken.getsockname()[1])))
    assert sender.listener is None and "cannot listen for VRChat" in capsys.readouterr().err
    assert sender.to_dict()["listen_port"] is None
    sender.close()


def test_the_live_flags():
    parser = argparse.ArgumentParser()
    add_live_arguments(parser)
    assert vrchat_options(parser.parse_args([])) is None
    assert vrchat_options(parser.parse_args(["--vrchat"])) == VRChatOptions(
        "127.0.0.1:9000", "9001", 0)
    assert vrchat_options(parser.parse_args(
        ["--vrchat", "10.0.0.2:9000", "--vrchat-listen", "off", "--vrchat-binary", "3"])
    ) == VRChatOptions("10.0.0.2:9000", None, 3)
    for bits in ("0", "9", "x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--vrchat", "--vrchat-binary", bits])


def test_the_live_factory_starts_the_listener_with_the_outputs():
    from contextlib import ExitStack

    from app.live.factory import make_outputs, output_stats, start_outputs

    with Receiver() as vrchat, ExitStack() as stack:
        outputs = make_outputs(None, None, VRChatOptions(vrchat.endpoint, str(free_udp_port())))
        worker = start_outputs(stack, outputs)
        listener = outputs[0].listener
        SimpleUDPClient("127.0.0.1", listener.port).send_message(PREFIX + "v2/JawOpen", 0.0)
        assert settled(lambda: listener.reported()[1] == {"v2/JawOpen"})
        worker.offer(frame_of(rig_from_weights({"jawOpen": 0.5})))
        assert settled(lambda: len(vrchat.arrivals) == 1)
        stats = output_stats(outputs, worker)
    assert vrchat.arrivals[0][1:] == (PREFIX + "v2/JawOpen", (0.5,))
    assert stats == [{"to": vrchat.endpoint, "dialect": "vrchat", "sent": 1, "failed": 0,
                      "parameters": 1, "listen_port": listener.port, "avatar_changes": 0,
                      "dropped": 0}]
