"""What machine a benchmark ran on, for the figures it prints."""

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what Python knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    """'AMD EPYC ..., 2 logical cores'."""
    return f"{cpu_model()}, {os.cpu_count()} logical cores"
