"""Signalling: one exchange of session descriptions over TCP, proved by the invite's secret.

    host                                   joiner
    listen on --bind (only while waiting)
                     <- connect
    challenge {nonce_h}               ->
                                      <- offer {nonce_j, sdp, mac(S, offer, nonce_h, nonce_j, sdp)}
    check the MAC (else refused, keep waiting); stop listening
    answer {sdp, mac(S, answer, nonce_h, nonce_j, offer, sdp)} ->
                                           check the MAC (else hang up before any media)

Messages are JSON, one per line, at most MAX_LINE_BYTES; a silent or garbled peer is
dropped after TIMEOUT_S. The secret is one-time: the first joiner that proves it ends the
waiting, so the same invite finds nobody listening afterwards. Neither side gathers more
than its own host candidates (app/call/ice.py), so the descriptions hold every candidate
and one exchange is enough (no trickle ICE).
"""

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.call.invite import Invite, mac, mac_ok
from app.errors import LivefaceError

PROTOCOL = "liveface-call/1"
MAX_LINE_BYTES = 64 * 1024
TIMEOUT_S = 10.0
MAX_WRONG_ATTEMPTS = 5  # then the host stops waiting: somebody is guessing


class Refused(Exception):
    """One joiner's attempt failed; the host keeps waiting for the right one."""


@dataclass
class HostResult:
    offer: str
    answer: str
    refused: list[str]  # why earlier attempts were refused


async def host_call(bind: str, port: int, secret: bytes,
                    answer_for: Callable[[str], Awaitable[str]],
                    on_listening: Callable[[int], None], wait_s: float) -> HostResult:
    """Listen on (bind, port) until a joiner proves the secret, answer its offer with
    `answer_for(offer)` and stop listening. `on_listening(port)` is told the port once the
    socket is open. Raises LivefaceError when nobody joins within `wait_s`."""
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    refused: list[str] = []
    used = False

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal used
        try:
            offer, reply = await _check_offer(reader, writer, secret, used)
            used = True
            server.close()  # no second joiner: the secret is spent
            answer = await answer_for(offer)
            await _send(writer, {"type": "answer", "sdp": answer,
                                 "mac": mac(secret, "answer", *reply, offer, answer)})
            if not done.done():
                done.set_result(HostResult(offer, answer, refused))
        except Refused as why:
            refused.append(str(why))
            await _send_quietly(writer, {"type": "refused", "reason": str(why)})
            if len(refused) >= MAX_WRONG_ATTEMPTS and not done.done():
                done.set_exception(LivefaceError(
                    f"{len(refused)} joiners brought a wrong invite; stopped waiting."))
        except Exception as err:  # noqa: BLE001 - handed to the waiting host, not lost
            if not done.done():
                done.set_exception(err)
        finally:
            writer.close()

    try:
        server = await asyncio.start_server(handle, bind, port, limit=MAX_LINE_BYTES)
    except OSError as err:
        raise LivefaceError(f"cannot listen on {bind}:{port} ({err.strerror}); choose "
                            "another --bind address or --port.") from None
    try:
        on_listening(server.sockets[0].getsockname()[1])
        try:
            return await asyncio.wait_for(asyncio.shield(done), wait_s)
        except TimeoutError:
            raise LivefaceError(f"nobody joined within {wait_s:g} s; stopped waiting.") from None
    finally:
        server.close()


async def _check_offer(reader, writer, secret: bytes, used: bool) -> tuple[str, tuple[str, str]]:
    """The joiner's offer once its MAC holds, and the two nonces; else `Refused`."""
    nonce_h = secrets.token_hex(16)
    await _send(writer, {"protocol": PROTOCOL, "type": "challenge", "nonce": nonce_h})
    message = await _receive(reader, Refused)
    nonce_j, offer = message.get("nonce"), message.get("sdp")
    if message.get("type") != "offer" or not isinstance(nonce_j, str) or not isinstance(offer, str):
        raise Refused("not a liveface offer")
    if used:
        raise Refused("invite already used")
    if not mac_ok(mac(secret, "offer", nonce_h, nonce_j, offer), message.get("mac")):
        raise Refused("wrong invite")
    return offer, (nonce_h, nonce_j)


async def join_call(invite: Invite, make_offer: Callable[[], Awaitable[str]]) -> str:
    """Send `make_offer()` to the invite's host and return its answer once the host has
    proved the secret too; LivefaceError when refused or when nobody waits there."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(invite.host, invite.port, limit=MAX_LINE_BYTES), TIMEOUT_S)
    except (OSError, TimeoutError):
        raise LivefaceError(f"nobody is waiting at {invite.host}:{invite.port}: the host has not "
                            "started, gave up, or the invite was used already (an invite "
                            "works once).") from None
    try:
        challenge = await _receive(reader, LivefaceError)
        nonce_h = challenge.get("nonce")
        if challenge.get("protocol") != PROTOCOL or not isinstance(nonce_h, str):
            raise LivefaceError(f"{invite.host}:{invite.port} does not speak {PROTOCOL}.")
        nonce_j = secrets.token_hex(16)
        offer = await make_offer()
        await _send(writer, {"type": "offer", "nonce": nonce_j, "sdp": offer,
                             "mac": mac(invite.secret, "offer", nonce_h, nonce_j, offer)})
        reply = await _receive(reader, LivefaceError)
        if reply.get("type") == "refused":
            raise LivefaceError(f"the host refused the invite ({reply.get('reason')}); ask "
                                "for a new one.")
        answer = reply.get("sdp")
        if (reply.get("type") != "answer" or not isinstance(answer, str)
                or not mac_ok(mac(invite.secret, "answer", nonce_h, nonce_j, offer, answer),
                              reply.get("mac"))):
            raise LivefaceError("the host did not prove the invite's secret; hung up before "
                                "any media.")
        return answer
    finally:
        writer.close()


async def _send(writer: asyncio.StreamWriter, message: dict) -> None:
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()


async def _send_quietly(writer: asyncio.StreamWriter, message: dict) -> None:
    try:
        await asyncio.wait_for(_send(writer, message), TIMEOUT_S)
    except (OSError, TimeoutError):
        pass


async def _receive(reader: asyncio.StreamReader, error: type[Exception]) -> dict:
    """One JSON object line; `error` with a reason when it is late, too long or garbled."""
    try:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT_S)
    except TimeoutError:
        raise error("no signalling message within the time allowed") from None
    except (ValueError, asyncio.LimitOverrunError):
        raise error("signalling message too long") from None
    except OSError as err:
        raise error(f"signalling connection lost ({err.strerror})") from None
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise error("the connection closed or sent something that is not signalling")
    return message
