"""Profiles: what calibration learns about one person, kept together in one folder.

    <config folder>/profiles/<name>/
        current              the name of the complete version below (one line)
        v-<stamp>/           a complete profile: profile.json, and voice.safetensors when
                             the person enrolled their voice

A save writes a new version folder in full, flushes it to the disk, then points `current`
at it with one atomic rename, then removes older versions. A crash or a kill at any
moment leaves `current` naming a complete version: the old one until the rename, the new
one after it. Several people share a PC through names (`--profile NAME`; "default" when
none is given). A damaged profile is reported and ignored: the app runs without it.
"""

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_config_dir

from app.errors import LivefaceError, notice
from app.files import write_atomic

DEFAULT_PROFILE = "default"
PROFILE_FILE = "profile.json"
VOICE_FILE = "voice.safetensors"
_CURRENT = "current"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FORMAT = "liveface-profile/1"


@dataclass
class Profile:
    name: str
    settings: dict = field(default_factory=dict)  # what each calibration step settled
    voice: bytes | None = None  # the voice adapter (safetensors), when enrolled
    folder: Path | None = None  # the version folder it was read from


def profiles_root() -> Path:
    return Path(user_config_dir("liveface")) / "profiles"


def profile_folder(name: str | None = None, root: Path | None = None) -> Path:
    name = name or DEFAULT_PROFILE
    if not _NAME.match(name):
        raise LivefaceError(f"profile name {name!r}: use letters, digits, '-', '_' or '.' "
                            "(up to 64), starting with a letter or digit.")
    return (root or profiles_root()) / name


def save_profile(profile: Profile, root: Path | None = None) -> Path:
    """Write the profile as a new version and make it current; the version's folder."""
    folder = profile_folder(profile.name, root)
    version = folder / f"v-{time.time_ns()}-{os.getpid()}"
    try:
        version.mkdir(parents=True)
        text = json.dumps({"format": FORMAT, "name": profile.name, **profile.settings},
                          indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_atomic(version / PROFILE_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        if profile.voice is not None:
            write_atomic(version / VOICE_FILE, lambda tmp: tmp.write_bytes(profile.voice))
        write_atomic(folder / _CURRENT,
                     lambda tmp: tmp.write_text(version.name + "\n", encoding="utf-8"))
    except OSError as err:
        shutil.rmtree(version, ignore_errors=True)
        raise LivefaceError(f"cannot save profile {profile.name!r} in {folder}: "
                            f"{err.strerror}.") from None
    _remove_old_versions(folder, keep=version.name)
    return version


def _remove_old_versions(folder: Path, keep: str) -> None:
    for old in folder.glob("v-*"):
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def read_profile(name: str | None = None, root: Path | None = None) -> Profile | None:
    """The profile, or None when there is none; a damaged one raises LivefaceError."""
    folder = profile_folder(name, root)
    pointer = folder / _CURRENT
    if not pointer.is_file():
        return None
    try:
        version = folder / pointer.read_text(encoding="utf-8").strip()
        data = json.loads((version / PROFILE_FILE).read_text(encoding="utf-8"))
        voice_path = version / VOICE_FILE
        voice = voice_path.read_bytes() if voice_path.is_file() else None
    except (OSError, ValueError) as err:
        raise LivefaceError(f"profile {folder.name!r} ({folder}) is damaged: {err}.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LivefaceError(f"profile {folder.name!r} ({folder}) is not a liveface profile.")
    settings = {k: v for k, v in data.items() if k not in ("format", "name")}
    return Profile(folder.name, settings, voice, version)


def load_profile(name: str | None = None, root: Path | None = None) -> Profile | None:
    """`read_profile`, but a damaged profile is reported and None returned: a run never
    stops for it."""
    try:
        return read_profile(name, root)
    except LivefaceError as err:
        notice(f"{err} Running without it; `liveface calibrate` makes a new one.")
        return None
