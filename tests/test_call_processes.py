"""Two `liveface call` processes on loopback, as two people would run them, each with a
speech file as its microphone; and a misbehaving peer. Every socket and every ICE
candidate is on 127.0.0.1 (`--bind`)."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio, write_wav
from app.call.invite import parse_invite
from app.errors import LivefaceError
from tests.xvfb import (  # noqa: F401 - the fixture is used by name
    assert_a_head_centred_in_each_half,
    requires_xvfb,
    xvfb,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "audio" / "sample.wav"
BIND = "127.0.0.1"
SPEECH_S, CALL_S = 3.0, 6.0
TIMEOUT_S = 180


@pytest.fixture(scope="module")
def voices(tmp_path_factory) -> tuple[Path, Path]:
    """A speaks for the first three seconds and then listens; B listens, then speaks."""
    folder = tmp_path_factory.mktemp("voices")
    a_speech = read_audio(SAMPLE)[:int(SPEECH_S * SAMPLE_RATE_HZ)]
    b_speech = _second_voice()[:int(SPEECH_S * SAMPLE_RATE_HZ)]
    silence = np.zeros(int((CALL_S + 1 - SPEECH_S) * SAMPLE_RATE_HZ), np.float32)
    first, second = folder / "a.wav", folder / "b.wav"
    write_wav(first, np.concatenate([a_speech, silence]))
    write_wav(second, np.concatenate([np.zeros(int(SPEECH_S * SAMPLE_RATE_HZ), np.float32),
                                      b_speech, silence[:SAMPLE_RATE_HZ]]))
    return first, second


def _second_voice() -> np.ndarray:
    """Another voice than the sample's: espeak-ng, else the sample's later seconds."""
    try:
        from app.data.speech import get_engine

        clip = get_engine("espeak-ng").synthesize(
            "Hello there, how was your weekend? I went walking by the lake.", "en")
        return np.asarray(clip.audio, np.float32)
    except Exception:  # noqa: BLE001 - no speech engine here: the sample still speaks
        return read_audio(SAMPLE)[3 * SAMPLE_RATE_HZ:]


def _liveface(*args: str, stderr) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "call", "--bind", BIND, *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)


def _host(tmp: Path, *args: str) -> tuple[subprocess.Popen, str, Path]:
    """A host process, its invite once written, and the file its stderr goes to."""
    invite_file, log = tmp / "invite.txt", tmp / "host.log"
    host = _liveface("--host", "--invite-file", str(invite_file), "--wait", "60", *args,
                     stderr=log.open("w"))
    deadline = time.monotonic() + 90
    while not (invite_file.is_file() and invite_file.read_text().strip()):
        assert host.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the host wrote no invite"
        time.sleep(0.1)
    return host, invite_file.read_text().strip(), log


def _wait_for(log: Path, text: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while text not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no '{text}' in {log.read_text()}"
        time.sleep(0.1)


def _finish(process: subprocess.Popen, log: Path | None = None) -> None:
    try:
        process.wait(TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
    message = log.read_text() if log else ""
    assert process.returncode == 0, message


def _try_join(invite: str, secret: bytes | None = None) -> LivefaceError | str:
    """Join `invite` (with another secret when given) from this process."""
    from dataclasses import replace

    from app.call.signalling import join_call

    parsed = parse_invite(invite)
    if secret is not None:
        parsed = replace(parsed, secret=secret)

    async def offer() -> str:
        return "v=0"

    try:
        return asyncio.run(join_call(parsed, offer))
    except LivefaceError as err:
        return err


def test_two_callers_see_each_other_speak_in_sync(voices, tmp_path):
    a_voice, b_voice = voices
    out = {side: {name: tmp_path / f"{side}.{name}" for name in
                  ("json", "png", "trace", "wav", "log")} for side in "ab"}

    def outputs(side):
        files = out[side]
        return ["--duration", str(CALL_S), "--stats-json", str(files["json"]),
                "--screenshot", str(files["png"]), "--screenshot-at", str(SPEECH_S + 1.5),
                "--trace-json", str(files["trace"]),
                "--record-peer", str(files["wav"])]

    host, invite, host_log = _host(tmp_path, "--audio", str(a_voice), *outputs("a"))
    wrong = _try_join(invite, secret=b"\x00" * 16)
    assert isinstance(wrong, LivefaceError) and "wrong invite" in str(wrong)
    joiner = _liveface(invite, "--audio", str(b_voice), *outputs("b"),
                       stderr=out["b"]["log"].open("w"))
    _wait_for(host_log, "in the call", host)
    reused = _try_join(invite)
    assert isinstance(reused, LivefaceError) and "nobody is waiting" in str(reused)
    _finish(joiner, out["b"]["log"])
    _finish(host, host_log)

    for side in "ab":
        stats = json.loads(out[side]["json"].read_text())
        assert stats["connected"] and stats["call_s"] >= CALL_S - 0.1
        m2m, offset = stats["mouth_to_mouth_ms"], stats["audio_face_offset_ms"]
        # measured, not held to a budget here (a busy machine stretches it): the call
        # benchmark's figures are in the README
        assert 20 < m2m["p50"] <= m2m["p99"] and np.isfinite(m2m["p99"]), stats
        assert abs(offset["p50"]) <= 45 and abs(offset["p99"]) <= 45, stats
        assert 4 < stats["face_kbit_s"] <= 8.0, stats  # 35-byte faces at 25 fps, and pings
        assert stats["frames_received"] > 0.8 * 25 * CALL_S * 0.8, stats
        assert stats["face_loss"] < 0.2 and sum(stats["malformed"].values()) == 0, stats
        assert stats["clock"]["rtt_ms"] < 50 and abs(stats["clock"]["offset_ms"]) < 5, stats
        assert stats["voice"]["frames"] > 0.8 * 50 * CALL_S * 0.8, stats
        assert out[side]["png"].stat().st_size > 10_000
    assert json.loads(out["a"]["json"].read_text())["refused_joiners"] == ["wrong invite"]
    for side in "ab":  # both chose the shipped head, so each draws the other with it
        chosen = json.loads(out[side]["json"].read_text())["peer_avatar"]
        assert chosen["name"] == "head" and chosen["drawn_with"] == "theirs"

    # A watched B: at rest while B listened, talking while B spoke; and B watched A
    # talk first, then rest. (At rest the student's jaw drifts slowly up to about 0.12
    # after a second of silence: slow, where speech moves it several times faster.)
    jaw_b, jaw_a = (_jaw_by_heard_time(out[side]["trace"]) for side in "ab")
    for resting in (jaw_b[(0.5, 2.5)], jaw_a[(SPEECH_S + 0.6, CALL_S - 0.5)]):
        assert np.percentile(resting, 95) < 0.15 and _motion(resting) < 0.006, resting
    for talking in (jaw_b[(SPEECH_S + 0.5, SPEECH_S + 2.5)], jaw_a[(0.5, 2.5)]):
        assert talking.max() > 0.25 and _motion(talking) > 0.008, talking

    # the voice arrives where the faces say it is: B's recording of A lines up with A's file
    assert abs(_lag_ms(read_audio(a_voice), read_audio(out["b"]["wav"]))) <= 1.0
    assert abs(_lag_ms(read_audio(b_voice), read_audio(out["a"]["wav"]))) <= 1.0


def _jaw_by_heard_time(trace_path: Path) -> dict:
    ticks = json.loads(trace_path.read_text())["ticks"]
    heard = np.array([t[1] for t in ticks])
    jaw = np.array([t[2] for t in ticks])

    class Window(dict):
        def __missing__(self, span):
            return jaw[(heard >= span[0]) & (heard < span[1])]

    return Window()


def _motion(jaw: np.ndarray) -> float:
    """The jaw's mean movement per display tick."""
    return float(np.abs(np.diff(jaw)).mean())


def _lag_ms(sent: np.ndarray, received: np.ndarray) -> float:
    """Where the received voice best matches the sent one (ms; > 0: received late)."""
    n = min(len(sent), len(received))
    x, y = sent[:n], received[:n]
    lags = np.arange(-320, 321)
    scores = [np.dot(x[:n - lag], y[lag:]) if lag >= 0 else np.dot(x[-lag:], y[:n + lag])
              for lag in lags]
    return float(lags[int(np.argmax(scores))]) * 1000.0 / SAMPLE_RATE_HZ


def test_lost_faces_are_concealed_and_the_call_goes_on(voices, tmp_path):
    """The host drops 10% of the faces it sends, the joiner 30%."""
    a_voice, b_voice = voices
    stats_files = {"a": tmp_path / "a.json", "b": tmp_path / "b.json"}
    common = ["--duration", "5"]
    host, invite, host_log = _host(tmp_path, "--audio", str(a_voice), "--face-loss", "0.1",
                                   "--stats-json", str(stats_files["a"]), *common)
    log = tmp_path / "b.log"
    joiner = _liveface(invite, "--audio", str(b_voice), "--face-loss", "0.3",
                       "--stats-json", str(stats_files["b"]), *common, stderr=log.open("w"))
    _finish(joiner, log)
    _finish(host, host_log)
    a, b = (json.loads(stats_files[side].read_text()) for side in "ab")
    # each sees at least what the other's sender dropped (late faces on a busy machine
    # count as lost too), the one that lost 30% more than the one that lost 10%
    assert a["face_loss"] > max(0.2, b["face_loss"]) and b["face_loss"] > 0.03, (a, b)
    for stats in (a, b):
        assert stats["call_s"] >= 4.9 and stats["frames_received"] > 0.5 * 25 * 5  # 25 fps
        assert stats["stale_open_ms_max"] < 200, stats
        assert stats["shown"].get("bridged", 0) > 0


def test_a_peer_whose_network_goes_shows_reconnecting_at_rest_and_comes_back(voices, tmp_path):
    """A's network goes for 1.5 s while A speaks (every packet it sends dropped, `--outage
    0.8:1.5`): B says "reconnecting", shows A's face at rest meanwhile (not the last face
    held up), and when A is back the call goes on with A's mouth moving, in sync."""
    a_voice, b_voice = voices
    a_stats, b_stats, trace = (tmp_path / name for name in ("a.json", "b.json", "trace.json"))
    host, invite, host_log = _host(tmp_path, "--audio", str(a_voice), "--duration", "5",
                                   "--outage", "0.8:1.5", "--stats-json", str(a_stats))
    log = tmp_path / "b.log"
    joiner = _liveface(invite, "--audio", str(b_voice), "--duration", "5", "--stats-json",
                       str(b_stats), "--trace-json", str(trace), stderr=log.open("w"))
    _finish(joiner, log)
    _finish(host, host_log)
    a, b = json.loads(a_stats.read_text()), json.loads(b_stats.read_text())
    assert b["reconnecting"]["times"] == 1 and 1.2 < b["reconnecting"]["longest_s"] < 2.5, b
    assert a["reconnecting"]["times"] == 0, a  # B never went quiet
    said = log.read_text()
    assert "reconnecting" in said and "the peer is back after" in said, said
    ticks = json.loads(trace.read_text())["ticks"]
    dark = [jaw for call_s, _, jaw, state in ticks if 1.2 <= call_s <= 2.2]
    assert dark and max(dark) <= 0.1, "A's face must rest while A is gone"
    assert any(state == "reconnecting" for call_s, _, _, state in ticks if call_s < 2.4)
    back = [(jaw, state) for call_s, _, jaw, state in ticks if 2.6 <= call_s <= 3.2]
    assert back and all(state != "reconnecting" for _, state in back)
    assert max(jaw for jaw, _ in back) > 0.1, "A speaks after the outage: the mouth moves"
    assert abs(b["audio_face_offset_ms"]["p99"]) <= 45, b


@requires_xvfb
def test_a_call_in_a_desktop_window_shows_both_avatars_side_by_side(voices, tmp_path,
                                                                    xvfb):  # noqa: F811
    """`liveface call INVITE --window`: the peer (left) and you (right) drawn in a window
    on a virtual display while the call runs; its picture at the end holds both heads."""

    a_voice, b_voice = voices
    host, invite, host_log = _host(tmp_path, "--audio", str(a_voice), "--duration", "5",
                                   "--stand-in")
    stats, shot, log = tmp_path / "b.json", tmp_path / "window.png", tmp_path / "b.log"
    joiner = _liveface(invite, "--window", "--audio", str(b_voice), "--stand-in", "--duration",
                       "5", "--stats-json", str(stats), "--screenshot", str(shot),
                       stderr=log.open("w"))
    _finish(joiner, log)
    _finish(host, host_log)
    figures = json.loads(stats.read_text())
    window = figures["window"]
    assert figures["frames_received"] > 40 and window["frames"] >= 5, figures
    assert_a_head_centred_in_each_half(shot, window["size"])


def test_malformed_face_messages_are_counted_and_ignored(tmp_path):
    """A peer that proves the invite, then sends garbage among good faces."""
    stats_file = tmp_path / "host.json"
    host, invite, host_log = _host(tmp_path, "--stand-in", "--audio", str(SAMPLE),
                                   "--duration", "3", "--stats-json", str(stats_file))
    sent = asyncio.run(_misbehave(parse_invite(invite)))
    _finish(host, host_log)
    stats = json.loads(stats_file.read_text())
    for reason, count in sent["malformed"].items():
        assert 0 < stats["malformed"][reason] <= count, (reason, stats["malformed"])
    assert 0 < stats["frames_received"] <= sent["good"]
    assert stats["peer_avatar"] == {"name": "stranger", "sha256": "01" * 32,
                                    "drawn_with": "the default head"}


async def _misbehave(invite) -> dict:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from app.call import wire
    from app.call.ice import limit_host_candidates, rtc_configuration
    from app.call.session import FACE_CHANNEL
    from app.call.signalling import join_call

    limit_host_candidates(BIND)
    pc = RTCPeerConnection(rtc_configuration())
    channel = pc.createDataChannel(FACE_CHANNEL, negotiated=True, id=0, ordered=False,
                                   maxRetransmits=0)

    async def offer() -> str:
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    answer = await join_call(invite, offer)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    for _ in range(500):
        if channel.readyState == "open":
            break
        await asyncio.sleep(0.01)
    rng = np.random.default_rng(1)
    good = [wire.encode_face(wire.FaceMessage(seq, seq * 20_000, rng.normal(size=32)))
            for seq in range(40)]
    nan = bytearray(good[0]) + np.float16(np.nan).tobytes()  # a NaN eyelid closure
    nan[2] |= wire.EYELIDS
    bad = {"truncated": good[0][:30], "oversized": good[0] + bytes(900),
           "wrong_version": bytes([1]) + good[0][1:],  # a version 1 face, from older releases
           "non_finite": bytes(nan),
           "unknown_kind": bytes([wire.VERSION, 5]), "bad_field": "text, not bytes"}
    channel.send(wire.encode_avatar(wire.AvatarChoice("stranger", b"\x01" * 32)))
    for index, data in enumerate(good):
        channel.send(data)
        if index % 4 == 0:
            for message in bad.values():
                channel.send(message)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    await pc.close()
    return {"good": len(good), "malformed": {reason: 10 for reason in bad}}


def test_a_host_that_gives_up_leaves_nothing_listening(tmp_path):
    """Ctrl+C while waiting: the host says so, exits 130, and its port is closed."""
    import signal
    import socket

    invite_file, log = tmp_path / "invite.txt", tmp_path / "host.log"
    # Python's own Ctrl+C handler even when this test runs where SIGINT is ignored (a
    # background job)
    start = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
             " sys.argv[0] = 'liveface'; runpy.run_module('app.cli', run_name='__main__')")
    host = subprocess.Popen(
        [sys.executable, "-c", start, "call", "--host", "--bind", BIND, "--stand-in",
         "--audio", str(SAMPLE), "--invite-file", str(invite_file)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 90
    while not (invite_file.is_file() and invite_file.read_text().strip()):
        assert host.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    invite = parse_invite(invite_file.read_text())
    assert oct(invite_file.stat().st_mode & 0o777) == "0o600"
    host.send_signal(signal.SIGINT)
    assert host.wait(60) == 130 and "interrupted" in log.read_text()
    with pytest.raises(OSError), socket.create_connection((invite.host, invite.port), 2):
        pass
