"""A call seen in the headset: two `liveface call` processes on loopback (`--bind
127.0.0.1`), the host on this machine speaking for its first seconds, the joiner in
Monado's simulated HMD (marked `xr`; run in its chroot, tests/monado.py) with `--headset`.
Its eye images must show the peer's avatar in both eyes, mouth open while they speak and
at rest once they are silent."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio, write_wav
from tests.monado import LIVEFACE, monado, requires_monado  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.xr, requires_monado]

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "audio" / "sample.wav"
BIND = "127.0.0.1"
SPEECH_S, CALL_S = 4.0, 9.0
TIMEOUT_S = 240


def _voices(folder: Path) -> tuple[Path, Path]:
    """The host speaks for SPEECH_S seconds, then is silent; the joiner stays silent."""
    speech = read_audio(SAMPLE)[:int(SPEECH_S * SAMPLE_RATE_HZ)]
    silence = np.zeros(int((CALL_S + 6) * SAMPLE_RATE_HZ), np.float32)
    speaking, quiet = folder / "speaking.wav", folder / "quiet.wav"
    write_wav(speaking, np.concatenate([speech, silence]))
    write_wav(quiet, silence)
    return speaking, quiet


def _host(folder: Path, voice: Path, *flags: str) -> tuple[subprocess.Popen, str, Path]:
    invite_file, log = folder / "invite.txt", folder / "host.log"
    host = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "call", "--bind", BIND, "--host", "--invite-file",
         str(invite_file), "--wait", "180", "--audio", str(voice), "--stand-in",
         "--no-speaker", "--stats-json", str(folder / "host.json"), *flags],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 120
    while not (invite_file.is_file() and invite_file.read_text().strip()):
        assert host.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the host wrote no invite"
        time.sleep(0.1)
    return host, invite_file.read_text().strip(), log


def _join_in_headset(simulated, host: subprocess.Popen, invite: str, voice: Path,
                     *flags: str):
    """The joiner in Monado's simulated headset (no mirror, the stand-in animating `voice`),
    run to its end; then the host's end awaited (killed if it hangs). The joiner's result."""
    try:
        done = simulated.run([*LIVEFACE, "call", invite, "--bind", BIND, "--headset",
                              "--mirror", "off", "--audio", str(voice), "--stand-in",
                              "--no-speaker", *flags], timeout_s=TIMEOUT_S)
        host.wait(TIMEOUT_S)
    finally:
        if host.poll() is None:
            host.kill()
    return done


def avatar_mask(eye: np.ndarray) -> np.ndarray:
    """Where an eye's picture differs from its own background (the corner's colour)."""
    background = eye[2, 2].astype(np.int32)
    return np.abs(eye.astype(np.int32) - background).sum(axis=-1) > 40


def mouth_dark_pixels(eye: np.ndarray) -> int:
    """Dark pixels (an open mouth's inside) on the lower part of the face: between 60% of
    the way from the top of the head to its neck, and the neck (the narrowest row above
    the shirt's shoulders)."""
    mask = avatar_mask(eye)
    rows = np.nonzero(mask.any(axis=1))[0]
    widths = mask.sum(axis=1)
    top = rows[0]
    widest = top + int(np.argmax(widths[top:top + (rows[-1] - top) // 3]))  # the head
    shirt = next(y for y in range(widest, rows[-1]) if widths[y] > 1.6 * widths[widest])
    neck = widest + int(np.argmin(widths[widest:shirt]))
    band = slice(top + int(0.6 * (neck - top)), neck)
    return int(((eye[band].astype(int).sum(axis=-1) < 200) & mask[band]).sum())


def eyes_of(path: Path, width: int) -> list[np.ndarray]:
    sheet = np.asarray(Image.open(path).convert("RGB"))
    assert sheet.shape[1] == 2 * width
    return [sheet[:, :width], sheet[:, width:]]


def test_the_peer_speaks_across_the_table_in_both_eyes(monado, tmp_path):
    speaking, quiet = _voices(tmp_path)
    host, invite, host_log = _host(tmp_path, speaking)
    stats_path, end_png, open_png = (tmp_path / "joiner.json", tmp_path / "end.png",
                                     tmp_path / "open.png")
    done = _join_in_headset(monado, host, invite, quiet, "--resolution-scale", "2",
                            "--duration", str(CALL_S), "--stats-json", str(stats_path),
                            "--screenshot", str(end_png), "--screenshot-speaking",
                            str(open_png))
    assert done.returncode == 0, done.stderr[-3000:]
    assert host.returncode == 0, host_log.read_text()[-3000:]
    host_stats = json.loads((tmp_path / "host.json").read_text())
    # the joiner's tracked head went with its faces (it said nothing: the faces still go)
    assert host_stats["tracked_heads_received"] > 0.8 * host_stats["frames_received"] > 40
    stats = json.loads(stats_path.read_text())
    headset = stats["headset"]
    print(f"call in the headset: {headset['frames']} frames, peer {headset['peer']}, "
          f"mouth-to-mouth {stats['mouth_to_mouth_ms']}")
    assert stats["connected"] and stats["frames_received"] > 100
    assert headset["states"][-1] == "exiting" and "focused" in headset["states"]
    peer = headset["peer"]
    assert peer["frames"] >= 15 and peer["distance_m"] == pytest.approx(1.2)
    assert peer["jaw_open"]["max"] > 0.25 and peer["jaw_open"]["p10"] < 0.05  # speaks, rests

    width = headset["eye_size"][0]
    columns = []
    for end_eye, open_eye in zip(eyes_of(end_png, width), eyes_of(open_png, width)):
        for eye in (end_eye, open_eye):
            mask = avatar_mask(eye)
            assert 0.002 < mask.mean() < 0.5  # the peer is there, and is not everything
        speaking, silent = mouth_dark_pixels(open_eye), mouth_dark_pixels(end_eye)
        print(f"dark pixels in the mouth: speaking {speaking}, silent {silent}")
        assert speaking >= silent + 8  # the mouth open while they spoke, closed after
        mask = avatar_mask(end_eye)
        columns.append(np.nonzero(mask)[1].mean())
        rows = np.nonzero(mask.any(axis=1))[0]
        head = mask.copy()
        head[rows[0] + (rows[-1] - rows[0]) // 2:] = False  # above the shirt
        skin = end_eye[head].mean(axis=0)
        assert skin[0] > skin[2] + 10  # a face, facing this way: skin, not the back of hair
    assert columns[0] > columns[1]  # stereo: the left eye sees the peer further right


def test_a_peer_whose_network_goes_is_shown_reconnecting_in_both_eyes(monado, tmp_path):
    """The host's network goes 4 s into the call and stays gone (`--outage 4:60`): the
    joiner in the headset shows a "reconnecting" panel in the scene, in both eyes, and the
    peer's mouth at rest behind it."""
    speaking, quiet = _voices(tmp_path)
    host, invite, host_log = _host(tmp_path, speaking, "--outage", "4:60")
    stats_path, end_png = tmp_path / "joiner.json", tmp_path / "end.png"
    done = _join_in_headset(monado, host, invite, quiet, "--duration", "7", "--stats-json",
                            str(stats_path), "--screenshot", str(end_png))
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads(stats_path.read_text())
    assert stats["reconnecting"]["times"] == 1 and stats["reconnecting"]["at_the_end"], stats
    peer = stats["headset"]["peer"]
    assert peer["reconnecting_frames"] > 5, peer
    for eye in eyes_of(end_png, stats["headset"]["eye_size"][0]):
        panel = np.abs(eye.astype(int) - np.array([24, 30, 44])).sum(axis=-1) < 18
        assert panel.mean() > 0.006, panel.mean()  # app/xr/panel.py BACKGROUND, in this eye
