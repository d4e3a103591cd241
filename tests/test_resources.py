"""Shaders and assets are found from a checkout and from an installed wheel."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.resources import default_avatar_path, resource_dir, shader_path

ROOT = Path(__file__).resolve().parents[1]


def test_checkout_resources():
    assert resource_dir("shaders") == ROOT / "shaders"
    assert default_avatar_path().is_file()
    assert any(resource_dir("shaders").glob("*.vert"))
    assert shader_path("avatar.vert").parent == ROOT / "shaders"


@pytest.mark.slow
def test_installed_wheel_carries_shaders_and_assets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("liveface-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "app/_data/assets/avatars/default/head.glb" in names
    assert any(n.startswith("app/_data/shaders/") and n.endswith(".frag") for n in names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = "from app.resources import default_avatar_path as p; print(p())"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, env=env, check=True).stdout.strip()
    assert Path(out) == site / "app/_data/assets/avatars/default/head.glb"
