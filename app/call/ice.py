"""ICE candidates limited to one address (`--bind`), and no STUN or TURN server.

aioice gathers a host candidate for every address of every interface except loopback
(`aioice.ice.get_host_addresses`), and aiortc asks a public STUN server by default. A call
with `--bind ADDRESS` must send no packet from any other address: tests keep everything
on 127.0.0.1, and a user may want a call on one interface only (a VPN's). This module is
the one place that changes aioice: `Connection.gather_candidates` looks the function up
in its module at call time, so replacing it there limits every connection this process
makes. A process holds one call, so process-wide is the call's scope.
"""

import ipaddress

import aioice.ice

from app.errors import LivefaceError

_original_get_host_addresses = aioice.ice.get_host_addresses


def limit_host_candidates(address: str | None) -> None:
    """Gather host candidates on `address` only (None: every interface, aioice's own
    choice, loopback excluded)."""
    if address is None:
        aioice.ice.get_host_addresses = _original_get_host_addresses
        return
    check_bind_address(address)

    def only_bind_address(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        version = ipaddress.ip_address(address).version
        wanted = (version == 4 and use_ipv4) or (version == 6 and use_ipv6)
        return [address] if wanted else []

    aioice.ice.get_host_addresses = only_bind_address


def check_bind_address(address: str) -> None:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise LivefaceError(f"--bind takes an IP address, got '{address}'.") from None
    if parsed.is_unspecified:
        raise LivefaceError("--bind takes one address, not the wildcard; leave it out to use "
                            "every interface.")


def default_host_address() -> str:
    """The address a joiner on another machine reaches: the first one ICE would use."""
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    return addresses[0] if addresses else "127.0.0.1"


def rtc_configuration():
    """The peer connection's configuration: no ICE servers (no STUN, no TURN: nothing
    outside the two peers is asked), one transport for voice and face."""
    from aiortc import RTCConfiguration
    from aiortc.rtcconfiguration import RTCBundlePolicy

    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
