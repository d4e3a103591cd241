import pytest

from app.config import Config, config_from_dict, load_config
from app.errors import LivefaceError


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_config() == Config()


def test_toml_overrides_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[render]\nwidth = 640\nfps = 25\nbackground = [0, 0, 0]\n[avatar]\npath = "x.glb"\n')
    config = load_config(path)
    assert config.render.width == 640 and config.render.fps == 25.0
    assert config.render.background == (0, 0, 0) and config.avatar.path == "x.glb"
    assert config.render.height == Config().render.height


@pytest.mark.parametrize(
    "text, message",
    [
        ("[render]\nwidht = 3\n", "unknown config key"),
        ("[render]\nwidth = 'big'\n", "must be int"),
        ("[render]\nbackground = [1, 2]\n", "list of 3"),
        ("render = 3\n", "must be a table"),
        ("[render\n", "not valid TOML"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(LivefaceError, match=message):
        load_config(path)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(LivefaceError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_booleans_are_not_numbers():
    with pytest.raises(LivefaceError):
        config_from_dict({"render": {"width": True}})
