"""Finds the project's `shaders/`, `assets/` and `calibration/` folders.

In a checkout (or an editable install) they sit beside the `app` package; in an installed
wheel they are packed inside it under `app/_data/`.
"""

from functools import cache
from pathlib import Path

from app.errors import LivefaceError

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def resource_dir(kind: str) -> Path:
    """The folder holding one kind of resource: "shaders", "assets" or "calibration"."""
    for candidate in (_PACKAGE_DIR / "_data" / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise LivefaceError(
        f"cannot find the '{kind}' folder beside the liveface package ({_PACKAGE_DIR}); "
        "reinstall liveface or run it from a complete checkout."
    )


def shader_path(name: str) -> Path:
    """Path of a GLSL file in `shaders/`, by file name."""
    return resource_dir("shaders") / name


def asset_path(*parts: str) -> Path:
    """Path of a file or folder under `assets/`."""
    return resource_dir("assets").joinpath(*parts)


def default_avatar_path() -> Path:
    """The shipped default avatar (glTF binary)."""
    return asset_path("avatars", "default", "head.glb")
