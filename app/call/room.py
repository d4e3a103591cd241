"""A call of more than two, through a room server (Janus' VideoRoom, app/call/janus.py).

    result = run_room(RoomRequest(call=CallRequest(...), url=..., room=..., display=...), clock)

This side publishes once: one peer connection to the server carrying its voice (Opus) and
its face channel (the same messages as a two-person call, app/call/wire.py). For every
other participant it subscribes once: one more peer connection, on which the server sends
that participant's voice and forwards their face messages. Each participant is a
`RoomPeer` with its own jitter buffer, playout clock, clock estimate and figures
(app/call/peer.py), so one slow or silent participant does not move anyone else's face.

What differs from a call of two:
- the server, not an invite, authenticates: the room's token is Janus' room `pin`, and
  DTLS runs between each client and the server (which reads every packet it forwards);
- the server forwards face messages on a reliable, ordered channel (Janus opens the
  subscriber's channels that way), so a lost packet delays the faces behind it instead of
  being skipped; on a clean network the two are the same;
- clock pings go to everyone and everyone's pongs come back: a pong counts only when it
  answers a ping this side sent;
- a participant who joins after someone started speaking hears their voice from the
  middle, and the voice's packets carry no sender block number through the server (both
  aiortc and Janus count RTP time from the first packet they see), so the block the first
  voice packet held is worked out from the arrival times, the faces' capture times and the
  measured clock offset and round trip (`RoomPeer.media_offset_s`), to the nearest 20 ms.
"""

import asyncio
import itertools
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.emotions import EMOTIONS
from app.call import wire
from app.call.avatars import choice_of, peer_avatar
from app.call.ice import rtc_configuration
from app.call.janus import JanusSession
from app.call.jitter import FRAME_S
from app.call.peer import PeerReceiver
from app.call.sender import CallSender
from app.call.session import (
    AVATAR_EVERY_PINGS,
    CONNECT_TIMEOUT_S,
    DISPLAY_HZ,
    FACE_CHANNEL,
    PING_PERIOD_S,
    CallRequest,
    call_parts,
    sender_stats,
)
from app.call.voice import OPUS_DELAY_S, RECEIVE_PREFETCH, VoiceTrack, prefer_opus
from app.errors import LivefaceError, notice

# from the start of a voice block to the moment its frame is handed on: the receiver waits
# for the next packet (RECEIVE_PREFETCH blocks), a face stands for the middle of its block,
# and Opus' look-ahead shifts what a decoded frame holds
VOICE_HANDOVER_S = RECEIVE_PREFETCH * FRAME_S + FRAME_S / 2 + OPUS_DELAY_S
SUBSCRIBER_CHANNEL = "liveface-subscriber"  # opened so that Janus starts forwarding data
PINGS_KEPT = 64


@dataclass(frozen=True, kw_only=True)
class RoomRequest:
    call: CallRequest  # the microphone, model, avatar, duration ... as for a call of two
    url: str  # the room server's HTTP API, e.g. http://10.0.0.5:8088/janus
    room: str
    display: str  # the name the others see
    token: str = ""


@dataclass
class RoomResult:
    stats: dict
    participants: list = field(default_factory=list)  # (name, Shown or None, avatar or None)
    own_rig: np.ndarray | None = None
    own_avatar: Path | None = None
    traces: dict = field(default_factory=dict)  # name: (call s, face media s, jawOpen, state)


def run_room(request: RoomRequest, clock) -> RoomResult:
    """Join the room, stay for the duration (or until Ctrl+C), leave."""
    room = prepare_room(request, clock)
    asyncio.run(room.run())
    return room.result()


def prepare_room(request: RoomRequest, clock) -> "RoomCall":
    """The audio source, animator and codec, checked; the room ready to join."""
    return RoomCall(request, call_parts(request.call, clock), clock)


class RoomPeer(PeerReceiver):
    """One other participant: their subscription and everything that comes on it."""

    def __init__(self, room: "RoomCall", feed: str, name: str):
        self.room, self.feed, self.name = room, feed, name
        self.start_receiving(room.clock, room.codec, room.request.call.speaker, False,
                             name=name)
        self.loop = room.loop
        self.pc = None
        self.handle: int | None = None
        self.left = False
        self.picture = None  # the Shown kept at the picture's moment

    def _reply(self, data: bytes) -> None:
        self.room.send(data)  # a pong goes out on this side's own face channel

    def _own_ping(self, t_ping_us: int) -> bool:
        return t_ping_us in self.room.pings_sent

    def media_offset_s(self) -> float | None:
        """Where the voice received starts in the sender's blocks (see the module's note):
        its first frame was handed on VOICE_HANDOVER_S plus the one-way trip (half the
        pings' round trip) after its block's capture; the capture clock is the faces'."""
        if self._clock_offset is None or not (np.isfinite(self.quickest_voice_s)
                                              and np.isfinite(self.capture_base_s)):
            return None
        rtt_s, peer_minus_local_s = self._clock_offset
        base_s = self.capture_base_s - peer_minus_local_s  # block 0's capture, local clock
        start_s = self.quickest_voice_s - base_s - VOICE_HANDOVER_S - rtt_s / 2
        return round(start_s / FRAME_S) * FRAME_S


class RoomCall:
    def __init__(self, request: RoomRequest, parts, clock):
        self.request, self.parts, self.clock, self.codec = request, parts, clock, parts.codec
        self.own_choice = choice_of(parts.own_avatar)
        self.peers: dict[str, RoomPeer] = {}  # by feed id
        self.pings_sent: deque[int] = deque(maxlen=PINGS_KEPT)
        self.own_rig: np.ndarray | None = None
        self.own_picture: np.ndarray | None = None
        self.connected_s: float | None = None
        self.faces_sent = self.bytes_sent = 0
        self.feed: str | None = None
        self.private_id: int | None = None
        self.subscribing: set[asyncio.Task] = set()
        self.final_stats: dict | None = None
        call = request.call
        self.sender = CallSender(parts.source, parts.animator, parts.codec, clock,
                                 self._on_voice, self._on_face,
                                 face_stride=FRAME_RATE_HZ // call.face_rate_hz)
        self.sender.emotion = (EMOTIONS.index(call.emotion), call.intensity)

    # -- the whole stay --------------------------------------------------------------------
    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._ended = asyncio.Event()
        self.janus = JanusSession(self.request.url, self._on_room_event)
        self.pc = None
        await self.janus.open()
        try:
            others = await self._publish()
            self.connected_s = self.clock.now_s()
            for publisher in others:
                self._subscribe_soon(publisher)
            duration_s = self.request.call.duration_s
            notice(f"in room '{self.request.room}' as {self.request.display}"
                   + (f" for {duration_s:g} s" if duration_s else "; Ctrl+C leaves") + ".")
            self.sender.start()
            try:
                await self._hold(duration_s)
            finally:
                self.final_stats = self.stats()  # the stay, not the goodbyes
                self.sender.stop()
        finally:
            await self._leave()

    async def _hold(self, duration_s: float | None) -> None:
        tasks = [asyncio.create_task(self._display()), asyncio.create_task(self._ping())]
        try:
            ended = asyncio.create_task(self._ended.wait())
            await asyncio.wait([self.janus.lost, ended], timeout=duration_s,
                               return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            if self.janus.lost.done():
                raise LivefaceError(f"the room ended: {self.janus.lost.result()}")
            self.sender.raise_if_failed()
        finally:
            for task in [*tasks, *self.subscribing]:
                task.cancel()
            for task in [*tasks, *self.subscribing]:
                with suppress(asyncio.CancelledError, LivefaceError):
                    await task

    async def _leave(self) -> None:
        for peer in self.peers.values():
            if peer.speaker_playing:
                peer.speaker.stop()
            if peer.pc is not None:
                await peer.pc.close()  # closing twice is harmless
        if self.pc is not None:
            await self.pc.close()
        await self.janus.close()

    def hang_up(self) -> None:
        """Leave the room from another thread (the window's, when it closes)."""
        loop, ended = getattr(self, "loop", None), getattr(self, "_ended", None)
        if loop is not None and ended is not None:
            with suppress(RuntimeError):  # the loop has closed: the stay is over already
                loop.call_soon_threadsafe(ended.set)

    def anyone_silent(self) -> bool:
        """Whether someone still in the room has sent nothing for a while (any thread)."""
        return any(peer.peer_silent() for peer in list(self.peers.values()) if not peer.left)

    # -- this side out -----------------------------------------------------------------------
    async def _publish(self) -> list[dict]:
        """Join as a publisher and send voice and faces; returns who is in the room."""
        from aiortc import RTCPeerConnection, RTCSessionDescription

        handle = await self.janus.attach()
        joined = await self.janus.message(handle, {
            "request": "join", "ptype": "publisher", "room": self.request.room,
            "display": self.request.display, "pin": self.request.token})
        self.feed, self.private_id = str(joined["id"]), joined.get("private_id")
        self.pc = RTCPeerConnection(rtc_configuration())
        self.voice_out = VoiceTrack()
        prefer_opus(self.pc.addTransceiver(self.voice_out, direction="sendonly"))
        # Janus opens data channels in band (DCEP), so this one is announced, not agreed
        self.channel = self.pc.createDataChannel(FACE_CHANNEL, ordered=False, maxRetransmits=0)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await self.janus.message(handle, {"request": "publish"},
                                          _jsep("offer", self.pc.localDescription.sdp))
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["jsep"]["sdp"], "answer"))
        await _until_open(self.pc, lambda: self.channel.readyState == "open",
                          "publishing to the room server")
        return joined.get("publishers", [])

    def _on_voice(self, seq: int, block: np.ndarray) -> None:
        self.loop.call_soon_threadsafe(self.voice_out.put, seq, block)

    def _on_face(self, message: wire.FaceMessage, rig: np.ndarray) -> None:
        self.own_rig = rig
        self.loop.call_soon_threadsafe(self._send_face, wire.encode_face(message))

    def _send_face(self, data: bytes) -> None:
        self.faces_sent += 1
        self.send(data)

    def send(self, data: bytes) -> None:
        """To everyone in the room, on this side's face channel."""
        if self.channel.readyState == "open":
            self.bytes_sent += len(data)
            self.channel.send(data)

    async def _ping(self) -> None:
        for count in itertools.count():
            now_us = round(self.clock.now_s() * 1e6)
            self.pings_sent.append(now_us)
            self.send(wire.encode_ping(now_us))
            if count % AVATAR_EVERY_PINGS == 0:
                self.send(wire.encode_avatar(self.own_choice))
            await asyncio.sleep(PING_PERIOD_S)

    # -- the others in -----------------------------------------------------------------------
    def _on_room_event(self, handle: int, data: dict) -> None:
        """Janus tells the publisher's handle who came and who left."""
        for publisher in data.get("publishers", []):
            self._subscribe_soon(publisher)
        for key in ("unpublished", "leaving"):
            peer = self.peers.get(str(data.get(key, "")))
            if peer is not None and not peer.left:
                peer.left = True
                notice(f"{peer.name} left the room.")
                self.loop.create_task(self._unsubscribe(peer))

    async def _unsubscribe(self, peer: RoomPeer) -> None:
        """Their connection closed and their handle let go; their figures stay."""
        if peer.speaker_playing:
            peer.speaker.stop()
            peer.speaker_playing = False
        if peer.pc is not None:
            await peer.pc.close()
        if peer.handle is not None:
            with suppress(LivefaceError):
                await self.janus.detach(peer.handle)

    def _subscribe_soon(self, publisher: dict) -> None:
        feed = str(publisher["id"])
        if feed == self.feed or feed in self.peers:
            return
        name = publisher.get("display") or f"participant {feed[:8]}"
        taken = {peer.name for peer in self.peers.values()}
        name = next(candidate for candidate in itertools.chain(
            [name], (f"{name} ({n})" for n in itertools.count(2))) if candidate not in taken)
        peer = RoomPeer(self, feed, name)
        self.peers[feed] = peer
        task = asyncio.create_task(self._subscribe(peer))
        self.subscribing.add(task)
        task.add_done_callback(self._subscribed)

    def _subscribed(self, task: asyncio.Task) -> None:
        self.subscribing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            notice(f"could not receive a participant: {task.exception()}")

    async def _subscribe(self, peer: RoomPeer) -> None:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        peer.handle = await self.janus.attach()
        offer = await self.janus.message(peer.handle, {
            "request": "join", "ptype": "subscriber", "room": self.request.room,
            "pin": self.request.token, "streams": [{"feed": _feed_id(peer.feed)}],
            **({"private_id": self.private_id} if self.private_id is not None else {})})
        peer.pc = RTCPeerConnection(rtc_configuration())
        peer.pc.on("track", peer._on_track)
        peer.pc.on("datachannel", lambda channel: channel.on("message", peer._on_message))
        await peer.pc.setRemoteDescription(RTCSessionDescription(offer["jsep"]["sdp"], "offer"))
        # Janus forwards a publisher's data only once the subscriber has opened a channel
        peer.pc.createDataChannel(SUBSCRIBER_CHANNEL)
        await peer.pc.setLocalDescription(await peer.pc.createAnswer())
        await self.janus.message(peer.handle, {"request": "start"},
                                 _jsep("answer", peer.pc.localDescription.sdp))
        await _until_open(peer.pc, lambda: True, f"receiving {peer.name}")
        peer.figures.connected()
        # each voice on its own output stream: the system's sound server mixes them
        peer.speaker_playing = peer.speaker is not None and peer.speaker.start()
        if peer.speaker_playing:  # what is written now is heard that much later
            peer.playout.delay_s += peer.speaker.latency_s
        notice(f"{peer.name} is in the room.")

    async def _display(self) -> None:
        period_s = 1.0 / DISPLAY_HZ
        picture_at_s = self.request.call.picture_at_s
        while True:
            now_s = self.clock.now_s()
            for peer in list(self.peers.values()):
                shown = peer._show(now_s)
                if picture_at_s is not None and peer.picture is None and shown is not None \
                        and now_s - self.connected_s >= picture_at_s:
                    peer.picture = shown
                    self.own_picture = self.own_rig
            await asyncio.sleep(period_s)

    # -- afterwards ----------------------------------------------------------------------------
    def result(self) -> RoomResult:
        known = self.parts.known
        participants = [(peer.name, peer.picture or peer.last_shown,
                         peer_avatar(peer.peer_choice, known)) for peer in self.peers.values()]
        own_rig = self.own_picture if self.own_picture is not None else self.own_rig
        traces = {peer.name: peer.figures.trace for peer in self.peers.values()}
        return RoomResult(self.final_stats or self.stats(), participants, own_rig,
                          self.parts.own_avatar, traces)

    def stats(self) -> dict:
        seconds = max(1e-6, self.clock.now_s() - (self.connected_s or self.clock.now_s()))
        participants = {}
        for peer in self.peers.values():
            offset_s = peer.media_offset_s()
            participants[peer.name] = peer.peer_stats(
                self.parts.known, left=peer.left,
                media_offset_ms=None if offset_s is None else round(offset_s * 1000, 1))
        return {"room": self.request.room, "display": self.request.display,
                "connected": self.connected_s is not None, "call_s": round(seconds, 3),
                "animator": self.parts.animator_label,
                "face_rate_hz": self.request.call.face_rate_hz,
                "frames_sent": self.faces_sent,
                "face_kbit_s_sent": round(self.bytes_sent * 8 / seconds / 1000, 3),
                "sender": sender_stats(self.sender.figures),
                "participants": participants}


def _jsep(kind: str, sdp: str) -> dict:
    # the whole description at once, candidates included: aiortc gathers before it answers
    return {"type": kind, "sdp": sdp, "trickle": False}


def _feed_id(feed: str):
    """Janus names feeds by string in a room with string ids, by number otherwise."""
    return int(feed) if feed.isdigit() else feed


async def _until_open(pc, also, doing: str) -> None:
    async def opened() -> None:
        while not (pc.connectionState == "connected" and also()):
            if pc.connectionState in ("failed", "closed"):
                raise LivefaceError(f"{doing} failed (ICE or DTLS); check that this machine "
                                    "reaches the room server's address (--bind).")
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(opened(), CONNECT_TIMEOUT_S)
    except TimeoutError:
        raise LivefaceError(f"{doing} did not connect within {CONNECT_TIMEOUT_S:g} s.") from None
