"""Typed configuration: dataclasses with working defaults, overridden by TOML, then by CLI flags.

A config file is optional. `load_config()` reads `--config PATH` when given, else the user's
`config.toml` in the platform's config folder when it exists, else the defaults. Unknown
keys and wrong types are a `LivefaceError` that names the key, never silently ignored.
"""

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from app.errors import LivefaceError
from app.files import write_atomic


@dataclass
class AudioConfig:
    device: str = ""  # the microphone by (part of its) name; empty = the system's default


@dataclass
class AvatarConfig:
    path: str = ""  # a glTF avatar with ARKit morph targets; empty = the shipped default


@dataclass
class RenderConfig:
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    samples: int = 0  # MSAA samples for offscreen targets (0: off)
    supersample: int = 2  # offscreen anti-aliasing: render N times larger, average down
    background: tuple[float, float, float] = (0.08, 0.09, 0.11)


@dataclass
class MirrorConfig:
    width: int = 960  # window size at start; the window is resizable
    height: int = 720
    samples: int = 4  # MSAA samples on a GPU; software OpenGL (llvmpipe) renders without
    render_scale: float = 0.0  # avatar pixels per window pixel; 0 = auto: 1 on a GPU,
    # about 640x480 worth on software OpenGL, stretched onto the window
    max_fps: float = 0.0  # frame cap; 0 = the monitor's refresh rate
    overlay: bool = True  # level, latency, emotion and mute over the avatar
    background: tuple[float, float, float] = (0.08, 0.09, 0.11)


@dataclass
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    avatar: AvatarConfig = field(default_factory=AvatarConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    mirror: MirrorConfig = field(default_factory=MirrorConfig)


def user_config_path() -> Path:
    return Path(user_config_dir("liveface")) / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """The configuration from `path` (or the user's file when present), else defaults."""
    if path is None:
        path = user_config_path()
        if not path.is_file():
            return Config()
    return config_from_dict(_read_toml(Path(path)))


def save_user_setting(section: str, key: str, value: Any, path: Path | None = None) -> Path:
    """Set `[section] key = value` in the user's config file (or `path`), keeping the rest
    of the file, comments included; the result is checked like any config before it is
    written, so a bad value never reaches the file."""
    import tomlkit

    path = Path(path) if path is not None else user_config_path()
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() \
            else tomlkit.document()
    except (OSError, tomlkit.exceptions.ParseError) as err:
        raise LivefaceError(f"cannot update config file {path}: {err}.") from None
    if section not in document:
        document[section] = tomlkit.table()
    document[section][key] = value
    config_from_dict(document.unwrap())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = tomlkit.dumps(document)
        write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as err:
        raise LivefaceError(f"cannot write config file {path}: {err.strerror}.") from None
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise LivefaceError(f"config file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise LivefaceError(f"config file {path} is not valid TOML: {err}.") from None
    except OSError as err:
        raise LivefaceError(f"cannot read config file {path}: {err.strerror}.") from None


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build a `Config` from nested dicts as TOML gives them, checking keys and types."""
    return _build(Config, values, "")


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise LivefaceError(f"config section '{where or 'top level'}' must be a table.")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise LivefaceError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
            f"known here: {', '.join(sorted(names))}."
        )
    kwargs = {k: _coerce(hints[k], v, where + k) for k, v in values.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    if origin is tuple:
        items = typing.get_args(hint)
        if not isinstance(value, list | tuple) or len(value) != len(items):
            raise LivefaceError(f"config key '{key}' must be a list of {len(items)} values.")
        return tuple(_coerce(t, v, key) for t, v in zip(items, value))
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise LivefaceError(
            f"config key '{key}' must be {hint.__name__}, got {type(value).__name__} {value!r}."
        )
    return value
