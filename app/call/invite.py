"""The invite: where the host waits and the one-time secret that proves both sides.

    liveface://127.0.0.1:40123/q0k3...   (host, port, 16 random bytes as base64url)

The secret never crosses the network. Each side proves it knows it with an HMAC-SHA256
over the exchange (app/call/signalling.py): the joiner over the host's challenge and its
own offer, the host over both nonces and both session descriptions. The descriptions carry
the DTLS certificate fingerprints, so whoever is in the middle cannot swap either side's
certificate without breaking a MAC, and cannot inject media without that certificate.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.errors import LivefaceError

SCHEME = "liveface"
SECRET_BYTES = 16


@dataclass(frozen=True)
class Invite:
    host: str  # an IP address (the signalling socket's)
    port: int
    secret: bytes

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{SCHEME}://{host}:{self.port}/{_b64(self.secret)}"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def parse_invite(text: str) -> Invite:
    """An invite from its text (as printed by `liveface call --host`, or read from the
    invite file); a malformed one is a `LivefaceError` that says what it should look like."""
    text = text.strip()
    problem = f"'{text[:80]}' is not a liveface invite; it looks like {SCHEME}://HOST:PORT/SECRET."
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
        secret = base64.urlsafe_b64decode(_padded(parts.path.strip("/")))
    except (ValueError, binascii.Error):
        raise LivefaceError(problem) from None
    if parts.scheme != SCHEME or not host or not port or len(secret) != SECRET_BYTES:
        raise LivefaceError(problem)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise LivefaceError(f"the invite's host '{host}' is not an IP address.") from None
    return Invite(host, port, secret)


def mac(secret: bytes, label: str, *parts: bytes | str) -> str:
    """HMAC-SHA256 under `secret` over `label` and `parts`, each length-prefixed so no two
    different exchanges can give the same input; hex."""
    digest = hmac.new(secret, digestmod=hashlib.sha256)
    for part in (label, *parts):
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(4, "big") + data)
    return digest.hexdigest()


def mac_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected, given)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)
