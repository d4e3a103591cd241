"""Three `liveface call --room` processes in one room on a real Janus server, each with a
speech file as its microphone: everyone receives the other two's voices and faces, and
each face moves while its owner speaks and rests while they are silent.

Janus gathers no ICE candidates on loopback, so the room lives in a network namespace the
test makes: a veth pair whose one address carries the server and every client. The
namespace has no link to anything else, so no packet of the test leaves the machine.
Needs the `janus` program (.ci/room-packages), root and iproute2; skips, saying which is
missing, without them."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio, write_wav
from app.call.picture import PANEL_SIZE
from tests.xvfb import (  # noqa: F401 - the fixture is used by name
    assert_a_head_centred_in_each_half,
    requires_xvfb,
    xvfb,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "audio" / "sample.wav"
ADDRESS = "10.213.0.1"  # inside the test's own namespace: nothing else can see it
PORT = 8088
TOKEN = "room-test-token"
ROOM = "test"
NAMES = ("ann", "bob", "cat")
CALL_S = 14.0
SPEAK_S = 2.0  # everyone speaks for SPEAK_S, then is silent for SPEAK_S, and again
EDGE_S = 0.3  # ticks this near a change of speaking are not judged
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def namespace():
    if shutil.which("janus") is None:
        pytest.skip("no `janus` program: the room tests need Janus (apt-get install janus; "
                    ".ci/room-packages lists it)")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the room test makes a network namespace (Janus gathers no ICE "
                    "candidates on loopback): it needs root and iproute2's `ip`")
    name = f"liveface-room-{os.getpid()}"
    steps = [["ip", "netns", "add", name],
             ["ip", "-n", name, "link", "add", "lfa", "type", "veth", "peer", "name", "lfb"],
             ["ip", "-n", name, "addr", "add", f"{ADDRESS}/24", "dev", "lfa"],
             *(["ip", "-n", name, "link", "set", link, "up"] for link in ("lfa", "lfb", "lo"))]
    try:
        for step in steps:
            made = subprocess.run(step, capture_output=True, text=True)
            if made.returncode != 0:
                pytest.skip(f"cannot make the test's network namespace ({' '.join(step)}: "
                            f"{made.stderr.strip()})")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _inside(namespace: str, *args: str, log: Path) -> subprocess.Popen:
    """`liveface ARGS` in the namespace, its output (Janus' too) to `log`."""
    return subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-m", "app.cli",
                             *args], cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            text=True)


@pytest.fixture
def server(namespace, tmp_path):
    log = tmp_path / "janus.log"
    janus = _inside(namespace, "room", "serve", "--bind", ADDRESS, "--port", str(PORT),
                    "--room-name", ROOM, "--token", TOKEN, "--config-dir",
                    str(tmp_path / "janus"), log=log)
    try:
        deadline = time.monotonic() + 30
        while "HTTP webserver started" not in log.read_text():
            assert janus.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield f"http://{ADDRESS}:{PORT}/janus"
    finally:
        janus.terminate()
        try:
            janus.wait(10)
        except subprocess.TimeoutExpired:
            janus.kill()
            janus.wait()


def _voice(index: int, folder: Path) -> tuple[Path, np.ndarray]:
    """Speech for SPEAK_S, silence for SPEAK_S, over and over (a different stretch of the
    sample for each participant); and which 20 ms blocks are speech."""
    sample = read_audio(SAMPLE)
    total = int((CALL_S + 30) * SAMPLE_RATE_HZ)
    speech = np.roll(np.tile(sample, total // len(sample) + 1), -index * 2 * SAMPLE_RATE_HZ)
    seconds = np.arange(total) / SAMPLE_RATE_HZ
    speaking = (seconds // SPEAK_S) % 2 == 0
    path = folder / f"{NAMES[index]}.wav"
    write_wav(path, np.where(speaking, speech[:total], 0.0).astype(np.float32))
    return path, speaking


def _speaking_at(speaking: np.ndarray, media_s: np.ndarray) -> np.ndarray:
    """1 where the sender spoke at `media_s`, 0 where silent, -1 near a change."""
    index = np.clip((media_s * SAMPLE_RATE_HZ).astype(int), 0, len(speaking) - 1)
    state = speaking[index].astype(int)
    edge = int(EDGE_S * SAMPLE_RATE_HZ)
    for shift in (-edge, edge):
        shifted = speaking[np.clip(index + shift, 0, len(speaking) - 1)].astype(int)
        state[shifted != state] = -1
    return state


def test_three_people_in_a_room_see_and_hear_each_other(server, namespace, tmp_path):
    voices = [_voice(index, tmp_path) for index in range(len(NAMES))]
    runs = {}
    for name, (voice, _) in zip(NAMES, voices):
        files = {kind: tmp_path / f"{name}.{kind}" for kind in ("json", "trace", "png", "log")}
        process = _inside(namespace, "call", "--room", server, "--room-name", ROOM,
                          "--token", TOKEN, "--bind", ADDRESS, "--display", name,
                          "--audio", str(voice), "--duration", str(CALL_S), "--stand-in",
                          "--no-speaker", "--stats-json", str(files["json"]),
                          "--trace-json", str(files["trace"]),
                          "--screenshot", str(files["png"]), log=files["log"])
        runs[name] = (process, files)
    wrong = tmp_path / "wrong.log"
    intruder = _inside(namespace, "call", "--room", server, "--room-name", ROOM,
                       "--token", "not-the-token", "--bind", ADDRESS, "--audio", str(SAMPLE),
                       "--duration", "2", "--stand-in", "--no-speaker", log=wrong)
    for process, files in [*runs.values(), (intruder, {"log": wrong})]:
        try:
            process.wait(TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
    assert intruder.returncode == 2 and "refused the token" in wrong.read_text(), \
        wrong.read_text()
    assert "Traceback" not in wrong.read_text()

    speaking = {name: voice[1] for name, voice in zip(NAMES, voices)}
    for name, (process, files) in runs.items():
        log = files["log"].read_text()
        assert process.returncode == 0, log
        stats = json.loads(files["json"].read_text())
        traces = json.loads(files["trace"].read_text())["participants"]
        others = [other for other in NAMES if other != name]
        assert sorted(stats["participants"]) == others, log
        for other in others:
            _check_one_participant(name, other, stats["participants"][other],
                                   np.array([tick[1:3] for tick in traces[other]
                                             if tick[3] in ("fresh", "bridged")]),
                                   speaking[other])
        picture = Image.open(files["png"])
        assert picture.size == (PANEL_SIZE[0] * len(NAMES), PANEL_SIZE[1])


def _check_one_participant(name: str, other: str, figures: dict, ticks: np.ndarray,
                           speaking: np.ndarray) -> None:
    said = f"{name} receiving {other}: {json.dumps(figures)[:600]}"
    assert figures["frames_received"] >= 100, said  # about 10 s at up to 25 faces/s
    assert figures["voice"]["frames"] >= 250, said  # 50 voice frames a second
    assert figures["mouth_to_mouth_ms"]["p50"] is not None, said
    assert figures["media_offset_ms"] is not None, said
    assert len(ticks) >= 200, said
    state = _speaking_at(speaking, ticks[:, 0])
    jaw_speaking, jaw_silent = ticks[state == 1, 1], ticks[state == 0, 1]
    assert len(jaw_speaking) >= 50 and len(jaw_silent) >= 50, said
    # the face shown follows its owner's voice: open while they speak, shut while silent
    print(f"{name} <- {other}: jawOpen speaking {jaw_speaking.mean():.3f} "
          f"silent {jaw_silent.mean():.3f}, offset {figures['media_offset_ms']} ms, "
          f"mouth-to-mouth {figures['mouth_to_mouth_ms']}, "
          f"audio-face {figures['audio_face_offset_ms']}, loss {figures['face_loss']}")
    assert jaw_speaking.mean() > 3 * jaw_silent.mean() + 0.02, said
    assert np.percentile(jaw_silent, 90) < 0.1, said


@requires_xvfb
def test_a_room_in_a_desktop_window_shows_everyone_side_by_side(server, namespace, tmp_path,
                                                                 xvfb):  # noqa: F811
    """`liveface call --room ... --window`: the other participant (left) and you (right)
    drawn in a window on a virtual display while the room runs."""
    voice, _ = _voice(0, tmp_path)
    common = ["call", "--room", server, "--room-name", ROOM, "--token", TOKEN, "--bind",
              ADDRESS, "--audio", str(voice), "--stand-in", "--no-speaker"]
    stats, shot = tmp_path / "window.json", tmp_path / "window.png"
    logs = tmp_path / "ann.log", tmp_path / "bob.log"
    # ann stays until bob's window has closed (then Ctrl+C), however long each takes to start
    ann = _inside(namespace, *common, "--display", "ann", log=logs[0])
    bob = _inside(namespace, *common, "--display", "bob", "--duration", "5", "--window",
                  "--stats-json", str(stats), "--screenshot", str(shot), log=logs[1])
    try:
        bob.wait(TIMEOUT_S)
        ann.send_signal(signal.SIGINT)
        ann.wait(30)
    finally:
        for process in (ann, bob):
            if process.poll() is None:
                process.kill()
    assert bob.returncode == 0, logs[1].read_text()
    assert ann.returncode == 130 and "Traceback" not in logs[0].read_text(), \
        logs[0].read_text()
    figures = json.loads(stats.read_text())
    assert figures["participants"]["ann"]["frames_received"] > 40, figures
    window = figures["window"]
    assert window["frames"] >= 5, window
    assert_a_head_centred_in_each_half(shot, window["size"])


# -- without a server ------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["room", "serve", "--bind", "127.0.0.1"], "no ICE candidates on loopback"),
    (["room", "serve", "--bind", "10.0.0.1", "--room-name", "a b"], "a room name is"),
    (["call", "--room", "10.0.0.1:8088"], "the room server's URL"),
    (["call", "--room", "http://10.0.0.1:8088/janus", "--host"], "does not take --host"),
    (["call", "--room", "http://10.0.0.1:8088/janus", "--headset"], "does not take --headset"),
    (["call", "--room", "http://10.0.0.1:8088/janus", "--window"], "needs a display"),
])
def test_room_mistakes_are_one_sentence(args, message, capsys, monkeypatch):
    from app.cli import main

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)

    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("liveface: error: ") and message in err, err


def test_an_unreachable_room_server_is_one_sentence():
    import asyncio

    from app.call.janus import JanusSession
    from app.errors import LivefaceError

    with pytest.raises(LivefaceError, match="cannot reach the room server"):
        asyncio.run(JanusSession("http://127.0.0.1:9/janus").open())


def test_the_janus_configuration_holds_everything_to_the_one_address(tmp_path):
    from app.call.room_server import RoomServer, write_janus_config

    main = write_janus_config(tmp_path, RoomServer("10.1.2.3", 8099, "talk", "s3cret"))
    text = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert main.name == "janus.jcfg"
    assert 'ice_enforce_list = "10.1.2.3"' in text["janus.jcfg"]
    assert 'interface = "10.1.2.3"' in text["janus.jcfg"]
    assert 'ip = "10.1.2.3"' in text["janus.transport.http.jcfg"]
    assert "port = 8099" in text["janus.transport.http.jcfg"]
    assert "admin_http = false" in text["janus.transport.http.jcfg"]
    assert "room-talk: {" in text["janus.plugin.videoroom.jcfg"]
    assert 'pin = "s3cret"' in text["janus.plugin.videoroom.jcfg"]
    assert all(path.stat().st_mode & 0o077 == 0 for path in tmp_path.iterdir())


def test_a_late_subscriber_finds_where_the_voice_it_hears_starts():
    """A sender 3.2 s into its stream when the subscription starts: the first voice frame
    received (media time 0 to the receiver) is the sender's 3.2 s, found from the faces'
    capture times, the clock offset and the round trip, whatever the network's delay."""
    from app.call.jitter import frame_media_s
    from app.call.room import RoomPeer
    from app.call.voice import OPUS_DELAY_S

    rng = np.random.default_rng(0)

    for one_way_s, peer_minus_local_s in ((0.001, 0.0), (0.035, 12.5), (0.004, -3.0)):
        peer = RoomPeer.__new__(RoomPeer)
        start_s, capture_of_block_0_s = 3.2, 100.0  # block 0 began at 100, ended at 100.02
        peer._clock_offset = (2 * one_way_s, peer_minus_local_s)
        # faces: block seq captured (its end) at 100 + 0.02 (seq + 1), the peer's clock
        peer.capture_base_s = min(capture_of_block_0_s + 0.02 * (seq + 1)
                                  + peer_minus_local_s - frame_media_s(seq)
                                  for seq in range(160, 400, 2))
        # voice: the frame the receiver times at media m holds the sender's start_s + m; it
        # was decoded from the packet of the block starting OPUS_DELAY_S later, and handed
        # on once the next block's packet came (sent when that block's capture ended)
        arrivals = []
        for m in np.arange(0, 5, 0.02):
            packet_start_s = start_s + m + OPUS_DELAY_S
            next_sent_s = capture_of_block_0_s + 0.02 + packet_start_s + 0.02
            arrivals.append(next_sent_s + one_way_s + rng.uniform(0, 0.03) - m)
        peer.quickest_voice_s = min(arrivals)
        assert peer.media_offset_s() == pytest.approx(start_s, abs=1e-9)
