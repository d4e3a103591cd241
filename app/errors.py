"""The one error type users see.

A `LivefaceError` carries a sentence that says what went wrong and what to do about it.
The CLI prints it without a traceback; anything else is a programming error and crashes
loudly.
"""


class LivefaceError(Exception):
    """A user-facing error: bad input, a missing file or device, a malformed asset."""


def notice(text: str) -> None:
    """A one-line message to the user that is not an error (a fallback taken, a feature off)."""
    import sys

    print(f"liveface: {text}", file=sys.stderr)
