"""The call's parts on their own: invites, the face message, the jitter buffer and its
concealment, the playout clock, and signalling over loopback sockets in this process."""

import asyncio
import json
import struct
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from app.audio.contract import SAMPLES_PER_FRAME
from app.avatar.rig import RIG_INDEX, neutral_rig
from app.avatar.texture_controls import NUM_REGIONS
from app.call import wire
from app.call.invite import Invite, new_secret, parse_invite
from app.call.jitter import EASING, FRESH, HELD, REST, FaceJitterBuffer, RemoteFrame
from app.call.sender import CallSender
from app.call.signalling import host_call, join_call
from app.call.voice import PlayoutClock
from app.errors import LivefaceError
from app.live.clock import ManualClock

JAW = RIG_INDEX["jawOpen"]


# -- invites ------------------------------------------------------------------------------------

def test_an_invite_survives_its_text():
    invite = Invite("127.0.0.1", 40123, new_secret())
    assert parse_invite(str(invite)) == invite
    v6 = Invite("::1", 9, new_secret())
    assert parse_invite(f"  {v6}\n") == v6


@pytest.mark.parametrize("text", ["", "hello", "liveface://127.0.0.1/abc", "http://127.0.0.1:1/"
                                  + "A" * 22, "liveface://example.com:80/" + "A" * 22,
                                  "liveface://127.0.0.1:80/" + "A" * 10])
def test_malformed_invites_say_what_an_invite_looks_like(text):
    with pytest.raises(LivefaceError):
        parse_invite(text)


# -- the face message ------------------------------------------------------------------------

def _message(seq=7, **kwargs) -> wire.FaceMessage:
    latent = np.linspace(-2, 2, wire.LATENT_SIZE).astype(np.float32)
    return wire.FaceMessage(seq, 1_234_567, latent, **kwargs)


def test_a_face_message_round_trips_within_one_latent_step():
    sent = _message(emotion=1, intensity=0.6, head=(0.1, -0.2, 0.05), gaze=(0.3, -0.1),
                    eyelids=0.9, muted=True)
    data = wire.encode_face(sent)
    assert len(data) == wire.FACE_BYTES + 2 * (3 + 2 + 1)
    got = wire.decode(data)
    assert got.seq == 7 and got.capture_us == 1_234_567 and got.emotion == 1 and got.muted
    step = (wire.LATENT_HIGH - wire.LATENT_LOW) / 63
    inside = np.clip(sent.latent, wire.LATENT_LOW, wire.LATENT_HIGH)  # beyond: clipped
    assert (np.abs(got.latent - inside) <= step / 2 + 1e-5).all()
    assert np.allclose(got.head, sent.head, atol=1e-3)
    assert np.allclose(got.gaze, sent.gaze, atol=1e-3)
    assert abs(got.intensity - 0.6) < 0.01 and abs(got.eyelids - 0.9) < 1e-3
    plain = wire.decode(wire.encode_face(_message()))
    assert plain.head is None and plain.gaze is None and plain.eyelids is None


def test_malformed_face_messages_are_refused_by_reason():
    good = wire.encode_face(_message())
    nan = bytearray(good)
    nan += np.float16(np.nan).tobytes()  # an eyelid field, flagged
    nan[2] |= wire.EYELIDS
    cases = {
        "truncated": [good[:1], good[:20], good[:-1], wire.encode_ping(1)[:-2]],
        "oversized": [good + b"\0", good + b"\0" * 4000, wire.encode_pong(1, 2) + b"x"],
        "wrong_version": [bytes([1]) + good[1:], bytes([3]) + good[1:], bytes([0]) + good[1:]],
        "unknown_kind": [bytes([wire.VERSION, 9]) + good[2:]],
        "non_finite": [bytes(nan)],
        "bad_field": [good[:2] + bytes([0x80]) + good[3:], good[:3] + bytes([200]) + good[4:],
                      "a text message"],
    }
    for reason, messages in cases.items():
        for data in messages:
            with pytest.raises(wire.Malformed) as caught:
                wire.decode(data)
            assert caught.value.reason == reason, (reason, data[:8])


def test_an_avatar_choice_is_a_name_and_a_hash_and_nothing_else():
    sha = bytes(range(32))
    choice = wire.AvatarChoice("Godette", sha)
    assert wire.decode(wire.encode_avatar(choice)) == choice
    long_name = wire.decode(wire.encode_avatar(wire.AvatarChoice("é" * 60, sha)))
    assert len(long_name.name.encode()) <= wire.MAX_NAME_BYTES  # cut on a character
    good = wire.encode_avatar(choice)
    for data, reason in [(good[:20], "truncated"), (good + b"x", "oversized"),
                         (good[:34] + bytes([200]) + good[35:], "bad_field"),
                         (good[:34] + bytes([2]) + b"\xff\xfe", "bad_field"),
                         (good[:34] + bytes([2]) + b"\n\x00", "bad_field")]:
        with pytest.raises(wire.Malformed) as caught:
            wire.decode(data)
        assert caught.value.reason == reason


def test_the_peer_is_drawn_with_their_avatar_only_when_this_side_has_it(tmp_path):
    from app.call.avatars import choice_of, known_avatars, peer_avatar

    mine, other = tmp_path / "mine.glb", tmp_path / "other.glb"
    mine.write_bytes(b"my avatar")
    other.write_bytes(b"an avatar I do not have")
    known = known_avatars([mine])
    assert peer_avatar(choice_of(mine), known) == mine
    assert peer_avatar(choice_of(other), known) is None
    assert peer_avatar(None, known) is None
    assert choice_of(mine).name == "mine"


def test_random_bytes_never_raise_anything_but_malformed():
    rng = np.random.default_rng(0)
    good = wire.encode_face(_message())
    accepted = 0
    for _ in range(3000):
        data = bytearray(good if rng.random() < 0.5 else rng.bytes(int(rng.integers(0, 200))))
        for _ in range(int(rng.integers(1, 4))):  # flip a few bytes
            if data:
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        try:
            message = wire.decode(bytes(data))
        except wire.Malformed:
            continue
        accepted += 1
        if isinstance(message, wire.FaceMessage):
            assert np.isfinite(message.latent).all() and 0 <= message.emotion < 8


def test_the_face_stream_costs_what_the_readme_says():
    assert wire.FACE_BYTES == 35  # 35 bytes x 25 fps = 7.0 kbit/s of payload
    assert len(wire.encode_ping(0)) == 10 and len(wire.encode_pong(0, 0)) == 18
    assert struct.calcsize("<BBBBBHI") == 11 and wire.LATENT_BYTES == 24


def test_seq_and_capture_time_unwrap_past_their_wire_bits():
    for seq in (0, 7, 65_535, 65_536, 200_001):
        got = wire.decode(wire.encode_face(wire.FaceMessage(seq, 0, np.zeros(32, np.float32))))
        assert wire.unwrap(got.seq, 16, seq - 40) == seq
        assert wire.unwrap(got.seq, 16, seq + 40) == seq
    capture_us = 10 * 2**32 + 5
    got = wire.decode(wire.encode_face(wire.FaceMessage(1, capture_us, np.zeros(32))))
    assert wire.unwrap(got.capture_us, 32, capture_us + 2_000_000) == capture_us


def test_latent_steps_pack_and_unpack_exactly():
    rng = np.random.default_rng(0)
    latent = rng.uniform(wire.LATENT_LOW, wire.LATENT_HIGH).astype(np.float32)
    once = wire.unpack_latent(wire.pack_latent(latent))
    assert len(wire.pack_latent(latent)) == wire.LATENT_BYTES
    assert np.array_equal(wire.unpack_latent(wire.pack_latent(once)), once)
    assert np.array_equal(wire.quantise(once), wire.quantise(latent))
    beyond = wire.unpack_latent(wire.pack_latent(wire.LATENT_HIGH + 100.0))
    assert np.allclose(beyond, wire.LATENT_HIGH)  # clipped to the range
    assert np.isfinite(wire.unpack_latent(wire.pack_latent(np.full(32, np.nan)))).all()


# -- the jitter buffer and concealment -----------------------------------------------------

def _frame(seq: int, jaw: float) -> RemoteFrame:
    rig = neutral_rig()
    rig[JAW] = jaw
    zeros = np.zeros(NUM_REGIONS, np.float32)
    return RemoteFrame(seq, rig, zeros, zeros, seq * 0.02)


def _speech_jaw(seq: int) -> float:
    """A talking jaw: syllables at 4 Hz, open up to 0.6."""
    return 0.3 + 0.3 * np.sin(2 * np.pi * 4 * seq * 0.02)


def test_the_face_shown_is_the_face_of_the_voice_heard():
    buffer = FaceJitterBuffer()
    for seq in range(100):
        buffer.push(_frame(seq, seq / 100), playout_media_s=None)
    shown = buffer.sample(0.5)  # face 24 stands for 0.49 s, face 25 for 0.51 s
    assert shown.state == FRESH and shown.face_media_s == 0.5
    assert shown.rig[JAW] == pytest.approx(0.245, abs=1e-4)


def test_a_stream_that_stops_with_the_mouth_open_eases_to_rest_within_200_ms():
    buffer = FaceJitterBuffer()
    for seq in range(50):
        buffer.push(_frame(seq, 0.7), None)
    last_media_s = 49.5 * 0.02
    states = {}
    for tick in range(40):
        t = last_media_s + tick / 120
        shown = buffer.sample(t)
        states[round(t - last_media_s, 3)] = (shown.state, float(shown.rig[JAW]))
    held = [dt for dt, (state, _) in states.items() if state == HELD]
    easing = [dt for dt, (state, jaw) in states.items() if state == EASING]
    assert held and max(held) <= 0.061
    assert easing and all(jaw < 0.7 for dt, (s, jaw) in states.items() if s == EASING)
    rest = [dt for dt, (state, jaw) in states.items() if state == REST]
    assert rest and min(rest) <= 0.17 and all(states[dt][1] == 0.0 for dt in rest)


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_random_loss_never_freezes_the_mouth_open_for_200_ms(loss):
    rng = np.random.default_rng(int(loss * 100))
    buffer = FaceJitterBuffer()
    frames = 50 * 60  # a minute of speech
    for seq in range(frames):
        if rng.random() >= loss:
            buffer.push(_frame(seq, _speech_jaw(seq)), None)
    stale_open_s, longest_s, period_s = 0.0, 0.0, 1 / 60
    for tick in range(int(frames * 0.02 / period_s)):
        shown = buffer.sample(tick * period_s)
        if shown.state in (HELD, EASING) and shown.rig[JAW] > 0.1:
            stale_open_s += period_s
            longest_s = max(longest_s, stale_open_s)
        else:
            stale_open_s = 0.0
    assert longest_s < 0.2


def test_faces_arriving_jittered_and_out_of_order_still_match_the_voice_heard():
    """Faces 20-80 ms late at random (so often out of order), the voice heard 140 ms behind
    capture (enough for the latest face and the one after it): every tick shows the face
    of the moment heard."""
    rng = np.random.default_rng(3)
    buffer = FaceJitterBuffer()
    arrivals = sorted((seq * 0.02 + 0.02 + rng.uniform(0.02, 0.08), seq) for seq in range(500))
    heard_behind_s, period_s, next_arrival = 0.14, 1 / 60, 0
    offsets = []
    for tick in range(1, int(9.5 / period_s)):
        now_s = tick * period_s
        while next_arrival < len(arrivals) and arrivals[next_arrival][0] <= now_s:
            seq = arrivals[next_arrival][1]
            buffer.push(_frame(seq, _speech_jaw(seq)), now_s - heard_behind_s)
            next_arrival += 1
        heard_s = now_s - heard_behind_s
        if heard_s > 0.05:
            shown = buffer.sample(heard_s)
            offsets.append(shown.face_media_s - heard_s)
            expected = np.interp(heard_s * 50 - 0.5, np.arange(500), _speech_jaw(np.arange(500)))
            assert shown.state == FRESH and shown.rig[JAW] == pytest.approx(expected, abs=1e-5)
    assert max(abs(o) for o in offsets) < 1e-9 and buffer.late == 0


def test_frames_far_ahead_are_refused_and_memory_stays_bounded():
    buffer = FaceJitterBuffer()
    buffer.push(_frame(10_000_000, 0.5), playout_media_s=1.0)
    assert buffer.refused == 1
    for seq in range(5000):
        buffer.push(_frame(seq, 0.1), None)
    assert len(buffer._frames) <= 256


# -- the playout clock --------------------------------------------------------------------------

def test_playout_follows_the_quickest_transit_and_never_goes_back():
    clock = PlayoutClock(delay_s=0.03)
    assert clock.media_at(99.0) is None  # nothing has arrived
    # ten frames queued before the network was ready arrive at once, then real time:
    # the backlog is skipped, not added to every later frame's delay
    for n in range(10):
        clock.on_frame(n * 0.02, 0.02, now_s=100.0)
    assert clock.media_at(100.0) == pytest.approx(0.18 - 0.03)
    for n in range(10, 60):
        clock.on_frame(n * 0.02, 0.02, now_s=100.0 + (n - 9) * 0.02)
    now_s = 100.0 + 50 * 0.02
    assert clock.media_at(now_s) == pytest.approx(1.18 - 0.03)
    assert clock.depth_s(now_s) == pytest.approx(0.03 + 0.02)  # the delay and one frame
    assert clock.late == clock.rebuffers == 0
    previous = clock.media_at(now_s)
    for step in range(1, 20):  # the network stops: the clock stalls at what it has
        value = clock.media_at(now_s + step * 0.01)
        assert value >= previous
        previous = value
    assert previous == pytest.approx(clock.newest_end_s)


def test_a_slower_network_moves_the_playout_back_after_a_few_late_frames():
    clock = PlayoutClock(delay_s=0.03)
    for n in range(50):
        clock.on_frame(n * 0.02, 0.02, now_s=10.0 + n * 0.02)
    for n in range(50, 60):  # 100 ms more delay from now on
        clock.on_frame(n * 0.02, 0.02, now_s=10.1 + n * 0.02)
    assert clock.late == PlayoutClock.LATE_RUN and clock.rebuffers == 1
    assert clock.depth_s(10.1 + 59 * 0.02) == pytest.approx(0.05, abs=1e-6)


# -- signalling ---------------------------------------------------------------------------------

async def _host_and_joiners(secret: bytes, joiners) -> tuple[object, list]:
    """A host on loopback and `joiners` (invite secrets) trying it one after another."""
    port_ready = asyncio.get_running_loop().create_future()

    async def answer_for(offer: str) -> str:
        return "answer to " + offer

    host = asyncio.create_task(host_call("127.0.0.1", 0, secret, answer_for,
                                         port_ready.set_result, wait_s=10))
    port = await port_ready
    outcomes = []
    for joiner_secret in joiners:
        async def offer() -> str:
            return "my offer"
        try:
            outcomes.append(await join_call(Invite("127.0.0.1", port, joiner_secret), offer))
        except LivefaceError as err:
            outcomes.append(err)
    return await host, outcomes


def test_only_the_invites_secret_gets_an_answer_and_only_once():
    secret = new_secret()
    result, outcomes = asyncio.run(_host_and_joiners(secret, [new_secret(), secret, secret]))
    wrong, right, reused = outcomes
    assert isinstance(wrong, LivefaceError) and "refused the invite (wrong invite)" in str(wrong)
    assert right == "answer to my offer"
    assert isinstance(reused, LivefaceError) and "nobody is waiting" in str(reused)
    assert result.offer == "my offer" and result.refused == ["wrong invite"]


def test_a_replayed_offer_is_refused():
    """Somebody who recorded a good offer cannot replay it: the host's challenge differs."""
    secret = new_secret()

    async def scenario():
        port_ready = asyncio.get_running_loop().create_future()

        async def answer_for(offer):
            return "answer"

        host = asyncio.create_task(host_call("127.0.0.1", 0, secret, answer_for,
                                             port_ready.set_result, wait_s=10))
        port = await port_ready
        from app.call.invite import mac

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        challenge = json.loads(await reader.readline())
        old_nonce = "00" * 16  # the offer was made for another challenge
        offer = {"type": "offer", "nonce": "11" * 16, "sdp": "x",
                 "mac": mac(secret, "offer", old_nonce, "11" * 16, "x")}
        assert challenge["nonce"] != old_nonce
        writer.write(json.dumps(offer).encode() + b"\n")
        reply = json.loads(await reader.readline())
        writer.close()
        host.cancel()
        return reply

    assert asyncio.run(scenario()) == {"type": "refused", "reason": "wrong invite"}


def test_nobody_joining_ends_the_wait_and_closes_the_socket():
    async def scenario():
        ports = []

        async def answer_for(offer):
            return ""

        with pytest.raises(LivefaceError, match="nobody joined"):
            await host_call("127.0.0.1", 0, new_secret(), answer_for, ports.append, wait_s=0.2)
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", ports[0])

    asyncio.run(scenario())


# -- ICE and the command line -----------------------------------------------------------------

def test_every_candidate_is_on_the_bind_address_and_no_server_is_asked():
    from aiortc import RTCPeerConnection

    from app.call.ice import limit_host_candidates, rtc_configuration

    async def offer_sdp() -> str:
        pc = RTCPeerConnection(rtc_configuration())
        pc.createDataChannel("x")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    limit_host_candidates("127.0.0.1")
    try:
        candidates = [line for line in asyncio.run(offer_sdp()).splitlines()
                      if line.startswith("a=candidate")]
    finally:
        limit_host_candidates(None)
    assert candidates and all(" 127.0.0.1 " in line and "typ host" in line
                              for line in candidates), candidates


@pytest.mark.parametrize("args, message", [
    ([], "either --host"),
    (["--host", "liveface://127.0.0.1:1/" + "A" * 22], "either --host"),
    (["liveface://127.0.0.1/nothing"], "not a liveface invite"),
    (["--host", "--bind", "0.0.0.0"], "not the wildcard"),
    (["--host", "--face-loss", "1.5"], "--face-loss"),
    (["--host", "--window", "--headset"], "not both"),
    (["--host", "--window"], "needs a display"),
])
def test_call_mistakes_are_one_sentence(args, message, capsys, monkeypatch):
    from app.cli import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    assert main(["call", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("liveface: error: ") and message in err, err


def test_what_the_peer_measured_replaces_what_the_model_made_up():
    from app.avatar.rig import GAZE_SLICE, HEAD_SLICE
    from app.call.peer import measured_over_model

    model_rig = np.full(57, 0.2, np.float32)
    plain = measured_over_model(model_rig.copy(), _message())
    assert np.allclose(plain, model_rig)
    measured = measured_over_model(model_rig.copy(), _message(head=(0.1, -0.3, 9.0),
                                                              gaze=(0.25, -0.1), eyelids=1.0))
    assert np.allclose(measured[HEAD_SLICE], [0.1, -0.3, 0.6])  # roll clamped to its range
    assert np.allclose(measured[GAZE_SLICE], [0.25, -0.1])
    assert measured[RIG_INDEX["eyeBlinkLeft"]] == measured[RIG_INDEX["eyeBlinkRight"]] == 1.0


def test_the_speaker_plays_the_moment_the_playout_clock_hears():
    from app.call.speaker import RATE_HZ, PeerSpeaker
    from app.live.clock import ManualClock

    clock = ManualClock(10.0)
    speaker = PeerSpeaker(clock)
    voice = np.arange(RATE_HZ, dtype=np.float32) / RATE_HZ  # a ramp: each sample says its time
    for start in range(0, RATE_HZ, 960):  # 20 ms frames
        speaker.write(start / RATE_HZ, voice[start:start + 960])
    out = np.zeros((480, 1), np.float32)
    speaker.callback(out, len(out))
    assert not out.any()  # nothing steered yet: silence
    speaker.steer(0.5)
    clock.advance_s(0.002)
    speaker.callback(out, len(out))
    assert out[0, 0] == pytest.approx(0.502, abs=1e-4) and speaker.resyncs == 0
    clock.advance_s(0.010)
    speaker.callback(out, len(out))  # plays on from where it was: no jump for small drift
    assert out[0, 0] == pytest.approx(0.512, abs=1e-4)
    speaker.steer(0.9)  # the playout moved on (a rebuffer, a skipped burst): follow it
    speaker.callback(out, len(out))
    assert out[0, 0] == pytest.approx(0.9, abs=1e-4) and speaker.resyncs == 1
    speaker.steer(2.0)  # beyond what arrived: silence, not old samples
    speaker.callback(out, len(out))
    assert not out.any()


# -- the compact face: what its quantisation costs, and the receiver's whole numbers -------

LIP_ERROR_MEAN_MM, LIP_ERROR_MAX_MM = 0.4, 1.5  # the bound the README states


def test_quantised_latents_move_the_lips_less_than_the_stated_bound():
    """The shipped student's latents for the sample speech, decoded as sent and as
    received: the largest lip-vertex distance per frame, mean and max over frames."""
    import torch

    from app.call.latent_range import student_latents
    from app.checkpoints import STUDENT_FILE, load_parts
    from app.data.teacher import default_geometry
    from app.resources import asset_path

    model = asset_path("models", STUDENT_FILE)
    latents = student_latents(model, [asset_path("audio", "sample.wav")], emotions=1)
    received = np.stack([wire.unpack_latent(wire.pack_latent(z)) for z in latents])
    codec, geometry = load_parts(model).codec, default_geometry()
    with torch.no_grad():
        rigs = [codec.decode(torch.from_numpy(z)).rig.numpy() for z in (latents, received)]
    lips = [geometry.skin_vertices(rig, geometry.lip_vertices) for rig in rigs]
    error_mm = np.linalg.norm(lips[0] - lips[1], axis=-1).max(axis=1) * 1000.0
    assert error_mm.mean() < LIP_ERROR_MEAN_MM and error_mm.max() < LIP_ERROR_MAX_MM, (
        error_mm.mean(), error_mm.max())
    assert error_mm.max() > 0.0  # the quantisation did round something


def test_the_shipped_ranges_are_the_shipped_students():
    from app.call.latent_range import RANGE_FILE, ranges_of, student_latents
    from app.checkpoints import STUDENT_FILE
    from app.resources import asset_path

    shipped = json.loads(RANGE_FILE.read_text())
    audio = [asset_path("audio", name) for name in shipped["audio"]]
    low, high = ranges_of(student_latents(asset_path("models", STUDENT_FILE), audio))
    assert np.allclose(low, shipped["low"], atol=2e-3)
    assert np.allclose(high, shipped["high"], atol=2e-3)


def test_the_receiver_unwraps_seq_and_capture_time_and_names_another_version(capsys):
    from app.call.session import Call, CallRequest
    from app.live.clock import ManualClock
    from app.model.codec import ExpressionCodec
    from app.model.config import ModelConfig

    call = Call(CallRequest(), None, None, None, ExpressionCodec(ModelConfig()), ManualClock(),
                wire.AvatarChoice("head", bytes(32)))
    pushed = []
    call.jitter.push = lambda frame, heard: pushed.append(frame)
    call.channel = type("Channel", (), {"send": lambda self, data: None})()
    peer_now_us = 3 * 2**32 + 1_000_000
    for seq in (65_530, 65_535, 65_536 + 4):
        call.peer_seq = 65_520
        call._on_message(wire.encode_ping(peer_now_us))
        call._on_message(wire.encode_face(wire.FaceMessage(seq, peer_now_us - 80_000,
                                                           np.zeros(32, np.float32))))
    assert [frame.seq for frame in pushed] == [65_530, 65_535, 65_540]
    assert all(frame.capture_s == (peer_now_us - 80_000) / 1e6 for frame in pushed)
    call._on_message(bytes([wire.VERSION - 1]) + wire.encode_face(_message())[1:])
    call._on_message(bytes([wire.VERSION + 1]) + wire.encode_face(_message())[1:])
    assert call.figures.malformed["wrong_version"] == 2
    assert capsys.readouterr().err.count("cannot read (not version 2)") == 1


class _Ahead:
    """A stand-in look-ahead model (no network needed to show the labelling): it answers
    the n-th block pushed with a face whose latent holds n - 2, the face of two blocks ago."""

    lookahead_frames = 2

    def __init__(self):
        self.pushed = 0

    def push(self, block, emotion=0, intensity=0.0):
        face = torch.full((32,), float(self.pushed - self.lookahead_frames))
        self.pushed += 1
        return SimpleNamespace(rig=neutral_rig(), latent=face)


class _Blocks:
    """Six 20 ms blocks read at once, the last sample captured at 10 s."""

    def start(self):
        pass

    def stop(self):
        pass

    def read(self, max_samples):
        if getattr(self, "done", False):
            return np.zeros(0, np.float32), None
        self.done = True
        return np.zeros(6 * SAMPLES_PER_FRAME, np.float32), 10.0


def test_a_lookahead_models_faces_go_out_with_their_own_blocks_seq_and_capture_time():
    clock, faces, voices = ManualClock(10.0), [], []
    sender = CallSender(_Blocks(), _Ahead(), None, clock, lambda seq, block: voices.append(seq),
                        lambda message, rig: faces.append(message), max_lag_ms=1000.0)
    sender.step()
    assert voices == [0, 1, 2, 3, 4, 5]
    # blocks 2..5 bring the faces of blocks 0..3: none is labelled with a block it has not seen
    assert [message.seq for message in faces] == [0, 1, 2, 3]
    assert [int(message.latent[0]) for message in faces] == [0, 1, 2, 3]
    # block n's last sample was captured (5 - n) x 20 ms before the last one, at 10 s
    assert [message.capture_us for message in faces] == [
        round((10.0 - (5 - n) * 0.02) * 1e6) for n in range(4)]


def test_the_voice_receiver_hands_on_each_packet_when_the_next_arrives():
    """aiortc's receiver, shortened: a voice packet is decoded once the next one is in
    (20 ms), not four later (80 ms); the playout clock does the jitter buffering."""
    from aiortc import RTCPeerConnection
    from aiortc.rtp import RtpPacket

    from app.call.voice import shorten_receive_buffer

    async def receiver_buffer():
        pc = RTCPeerConnection()
        try:
            receiver = pc.addTransceiver("audio").receiver
            assert shorten_receive_buffer(receiver)
            return receiver._RTCRtpReceiver__jitter_buffer
        finally:
            await pc.close()

    def packet(n: int) -> RtpPacket:
        made = RtpPacket(sequence_number=n, timestamp=960 * n, payload=b"x")
        made._data = made.payload  # what aiortc's receiver sets before buffering
        return made

    buffer = asyncio.run(receiver_buffer())
    out = [buffer.add(packet(n))[1] for n in range(4)]
    assert out[0] is None and [frame.timestamp for frame in out[1:]] == [0, 960, 1920]
    assert not shorten_receive_buffer(object())  # another aiortc: left alone, said so
