"""Which avatar draws the peer: the one they chose, when this side holds the same file
(matched by its SHA-256), else the shipped default head. Each side sends its choice as a
name and a content hash (app/call/wire.py, kind 3), never the file."""

import hashlib
from pathlib import Path

from app.call.wire import AvatarChoice
from app.errors import LivefaceError


def choice_of(path: Path) -> AvatarChoice:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise LivefaceError(f"cannot read the avatar {path}: {err.strerror}.") from None
    return AvatarChoice(Path(path).stem, hashlib.sha256(data).digest())


def known_avatars(paths: list[Path]) -> dict[bytes, Path]:
    """The avatars this side can draw a peer with, by content hash."""
    return {choice_of(path).sha256: Path(path) for path in paths}


def peer_avatar(choice: AvatarChoice | None, known: dict[bytes, Path]) -> Path | None:
    """The file that draws the peer's choice; None: draw the default head."""
    return None if choice is None else known.get(choice.sha256)
