"""Writing files so that a reader never sees half of one: write under a temporary name in
the same folder, flush it to the disk, then rename into place (a crash or a power cut
mid-write leaves the old file whole)."""

import os
from collections.abc import Callable
from pathlib import Path

TMP_MARK = ".tmp-"  # in the name of a file still being written


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` writes the file under a temporary name, which then becomes `path`."""
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)  # the rename itself
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's) contents to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
