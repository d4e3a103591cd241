"""Writing files so that a reader never sees half of one: write under a temporary name in
the same folder, then rename into place (a crash mid-write leaves the old file whole)."""

import os
from collections.abc import Callable
from pathlib import Path

TMP_MARK = ".tmp-"  # in the name of a file still being written


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` writes the file under a temporary name, which then becomes `path`."""
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
