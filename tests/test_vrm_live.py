"""A VRM avatar in the live front ends: the desktop mirror on a private Xvfb display (marked
`xvfb`) and the headset against Monado's simulated HMD (marked `xr`), each fed a speech
file, each showing the VRM's face framed in its picture."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.resources import asset_path
from tests.monado import LIVEFACE, monado, requires_monado  # noqa: F401 - the fixture is used by name
from tests.xvfb import requires_xvfb, xvfb  # noqa: F401 - the fixture is used by name

REPO = Path(__file__).resolve().parent.parent
SPEECH = asset_path("audio", "sample.wav")
GODETTE = Path(__file__).parent / "vrm" / "Godette_vrm_v4.vrm"


def godette_skin(picture: np.ndarray) -> np.ndarray:
    """Pixels of Godette's pale pink skin (her texture's face colour, lit or shaded)."""
    r, g, b = (picture[..., k].astype(np.int32) for k in range(3))
    return (r > 170) & (r > g + 10) & (r > b + 5) & (g > 120)


@pytest.mark.xvfb
@requires_xvfb
def test_mirror_shows_the_vrm_face(xvfb, tmp_path):  # noqa: F811
    stats_path, shot = tmp_path / "s.json", tmp_path / "m.png"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "mirror", "--audio", str(SPEECH), "--duration", "4",
         "--avatar", str(GODETTE), "--stats-json", str(stats_path), "--screenshot", str(shot),
         "--no-overlay"], cwd=REPO, env=dict(os.environ), capture_output=True, text=True,
        timeout=180)
    assert result.returncode == 0, result.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["frames"] > 0 and stats["model_frames"] > 0  # (rates depend on the load here)
    picture = np.asarray(Image.open(shot).convert("RGB"))
    height, width = picture.shape[:2]
    middle = godette_skin(picture[int(0.4 * height):int(0.8 * height), int(0.3 * width):int(0.7 * width)])
    assert middle.mean() > 0.5  # the face fills the middle: the head is framed, not the body
    assert picture[:30, -30:].reshape(-1, 3).std(axis=0).max() < 3  # background in a top corner


@pytest.mark.xr
@requires_monado
def test_headset_shows_the_vrm_face_in_both_eyes(monado, tmp_path):  # noqa: F811
    eyes_png = tmp_path / "eyes.png"
    done = monado.run([*LIVEFACE, "run", "--audio", str(SPEECH), "--duration", "5",
                       "--avatar", str(GODETTE), "--stats-json", str(tmp_path / "x.json"),
                       "--screenshot", str(eyes_png)])
    assert done.returncode == 0, done.stderr[-3000:] + monado.log()[-2000:]
    stats = json.loads((tmp_path / "x.json").read_text())
    left, right = stats["eye_frames"]
    assert left == right and left >= 15
    sheet = np.asarray(Image.open(eyes_png).convert("RGB"))
    width = stats["eye_size"][0]
    columns = []
    for eye in (sheet[:, :width], sheet[:, width:]):
        skin = godette_skin(eye)
        assert 0.002 < skin.mean() < 0.6, skin.mean()
        columns.append(np.nonzero(skin)[1].mean())
    assert columns[0] > columns[1]  # stereo: the left eye sees the head further right
