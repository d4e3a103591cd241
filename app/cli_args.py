"""Argument types shared by the command-line modules: each turns one flag's text into a
checked value or an argparse error that names what was expected."""

import argparse

MIN_SIZE_PX, MAX_SIZE_PX = 16, 8192


def size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got '{text}'") from None
    if not (MIN_SIZE_PX <= width <= MAX_SIZE_PX and MIN_SIZE_PX <= height <= MAX_SIZE_PX):
        raise argparse.ArgumentTypeError(
            f"size {text} is outside {MIN_SIZE_PX}x{MIN_SIZE_PX} .. {MAX_SIZE_PX}x{MAX_SIZE_PX}")
    return width, height


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got '{text}'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {value}")
    return value


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list ("en,de,fr"); empty items are dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())
