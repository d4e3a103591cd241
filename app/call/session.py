"""A call: signalling, the peer connection, this side's voice and face out, the peer's in.

    result = run_call(request, clock)   # result.stats, the faces last shown, the trace

Built in this order, torn down in reverse: the audio source, animator and codec are
checked before any socket opens; then the invite exchange (app/call/signalling.py);
then the peer connection with one Opus voice track each way and one data channel for
faces (unordered, no retransmissions: a late face is worth nothing); the microphone
starts once both are open. One asyncio loop runs the network; the sender (model) has its
own thread; the display tick samples the remote face at the voice's playout clock.
"""

import asyncio
import itertools
import random
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.emotions import EMOTIONS
from app.call import wire
from app.call.avatars import choice_of, known_avatars, peer_avatar
from app.call.ice import default_host_address, rtc_configuration
from app.call.invite import Invite, new_secret, parse_invite
from app.call.peer import PeerReceiver
from app.call.sender import CallSender
from app.call.signalling import host_call, join_call
from app.call.voice import (
    VoiceTrack,
    prefer_opus,
)
from app.errors import LivefaceError, notice

CONNECT_TIMEOUT_S = 20.0
DISPLAY_HZ = 60.0
PING_PERIOD_S = 0.5
AVATAR_EVERY_PINGS = 4  # the avatar choice goes out again every 2 s (the channel drops)
FACE_CHANNEL = "liveface-face/1"


@dataclass(frozen=True, kw_only=True)
class CallRequest:
    invite: str | None = None  # join this invite; None with `host`
    host: bool = False
    on_invite: Callable[[Invite], None] = print  # the host hands its invite to the user
    bind: str | None = None  # signalling and every ICE candidate on this address only
    port: int = 0  # the host's signalling port (0: any free one)
    wait_s: float = 300.0  # how long the host waits for the joiner
    audio: Path | None = None  # a file as the microphone
    device: str | None = None
    model: Path | None = None
    stand_in: bool = False
    emotion: str = "neutral"
    intensity: float = 0.0
    duration_s: float | None = None
    face_rate_hz: int = 25  # 35-byte faces: 7 kbit/s, within the 8 aimed for
    face_loss: float = 0.0  # testing: drop this fraction of the face messages sent
    outage: tuple[float, float] | None = None  # testing: (start s, length s) sending nothing
    record_peer: Path | None = None  # the peer's voice as received, placed at its media time
    picture_at_s: float | None = None  # keep the faces shown at this call time (None: the end)
    speaker: bool = True  # play the peer's voice on the default output device, if any
    avatar: Path | None = None  # the avatar you chose (None: the shipped head), sent by hash
    voice_profile: str | None = None  # the profile whose voice adapter the model uses


def run_call(request: CallRequest, clock) -> "CallResult":
    """Hold one call to its end (duration, the peer hanging up, or Ctrl+C)."""
    prepared = prepare_call(request, clock)
    try:
        asyncio.run(prepared.call.run())
    finally:
        if request.record_peer is not None:
            prepared.call.save_peer_voice(request.record_peer)
    return prepared.result()


@dataclass
class PreparedCall:
    """A call whose parts are built and checked, before any socket opens."""

    call: "Call"
    animator_label: str
    known: dict  # the avatars this side has, by content hash
    own_avatar: Path

    def peer_avatar(self) -> Path | None:
        """The file the peer chose, when this side has it (None: the shipped head)."""
        return peer_avatar(self.call.peer_choice, self.known)

    def result(self) -> "CallResult":
        call = self.call
        peer, own_rig = call.picture or (call.last_shown, call.own_rig)
        return CallResult(call.stats(self.animator_label, self.known), peer, own_rig,
                          call.figures.trace, self.peer_avatar(), self.own_avatar)


def prepare_call(request: CallRequest, clock) -> PreparedCall:
    """The audio source, animator and codec, checked; the call ready to run."""
    invite = parse_invite(request.invite) if request.invite else None
    parts = call_parts(request, clock)
    call = Call(request, invite, parts.source, parts.animator, parts.codec, clock,
                choice_of(parts.own_avatar))
    return PreparedCall(call, parts.animator_label, parts.known, parts.own_avatar)


@dataclass
class CallParts:
    """What a call (two people, or a room) is made of on this side, before it connects."""

    source: object  # the microphone, or a file played as one
    animator: object
    animator_label: str
    codec: object  # this side's expression codec: decodes everyone's latents
    own_avatar: Path
    known: dict  # the avatars this side has, by content hash


def call_parts(request: CallRequest, clock) -> CallParts:
    from app.checkpoints import STUDENT_FILE, load_parts
    from app.live.factory import make_animator, make_source
    from app.resources import asset_path, default_avatar_path

    source = make_source(request.audio, request.device, clock)
    animator, label = make_animator(request.model, request.stand_in,
                                    voice_profile=request.voice_profile)
    codec = load_parts(request.model or asset_path("models", STUDENT_FILE)).codec
    own_avatar = request.avatar or default_avatar_path()
    known = known_avatars([default_avatar_path(), own_avatar])
    return CallParts(source, animator, label, codec, own_avatar, known)


@dataclass
class CallResult:
    stats: dict
    peer: object  # the last Shown of the peer's face (app/call/jitter.py), or None
    own_rig: np.ndarray | None
    trace: list  # (call s, media s heard, jawOpen shown, state) per display tick
    peer_avatar: Path | None  # the file the peer chose, when this side has it
    own_avatar: Path


class Call(PeerReceiver):
    def __init__(self, request: CallRequest, invite: Invite | None, source, animator,
                 codec, clock, own_choice: wire.AvatarChoice):
        self.request, self.invite = request, invite
        self.start_receiving(clock, codec, request.speaker, request.record_peer is not None)
        self.own_choice = own_choice
        self.role = "host" if invite is None else "join"
        self.random = random.Random(0)
        self.own_rig: np.ndarray | None = None
        self.picture: tuple | None = None  # (peer Shown, own rig) at request.picture_at_s
        self._ended: asyncio.Event | None = None
        self.sender = CallSender(source, animator, codec, clock, self._on_voice, self._on_face,
                                 face_stride=FRAME_RATE_HZ // request.face_rate_hz)
        self.sender.emotion = (EMOTIONS.index(request.emotion), request.intensity)

    # -- the whole call ----------------------------------------------------------------------
    async def run(self) -> None:
        from aiortc import RTCPeerConnection

        self.loop = asyncio.get_running_loop()
        self._ended = asyncio.Event()
        self.pc = RTCPeerConnection(rtc_configuration())
        try:
            await self._connect()
            self.figures.connected()
            self._cut_network_for_outage()
            notice("in the call" + (f" for {self.request.duration_s:g} s" if
                                    self.request.duration_s else "; Ctrl+C hangs up") + ".")
            self.sender.start()
            self.speaker_playing = self.speaker is not None and self.speaker.start()
            if self.speaker_playing:  # what is written now is heard that much later
                self.playout.delay_s += self.speaker.latency_s
            try:
                await self._hold()
            finally:
                self.sender.stop()
                if self.speaker_playing:
                    self.speaker.stop()
        finally:
            await self.pc.close()

    async def _connect(self) -> None:
        from aiortc import RTCSessionDescription

        self.voice_out = VoiceTrack()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        if self.invite is None:
            await self._host(RTCSessionDescription)
        else:
            prefer_opus(self.pc.addTransceiver(self.voice_out, direction="sendrecv"))
            self._open_face_channel()
            answer = await join_call(self.invite, self._local_description("offer"))
            await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await self._until_open()

    async def _host(self, description) -> None:
        secret = new_secret()

        async def answer_for(offer: str) -> str:
            try:
                await self.pc.setRemoteDescription(description(offer, "offer"))
            except ValueError as err:
                raise LivefaceError(f"the joiner's offer is malformed ({err}).") from None
            self._send_voice_on_offered_transceiver()
            self._open_face_channel()  # after the offer's transports exist: one bundle
            return await self._local_description("answer")()

        def on_listening(port: int) -> None:
            address = self.request.bind or default_host_address()
            self.request.on_invite(Invite(address, port, secret))

        result = await host_call(self.request.bind or "0.0.0.0", self.request.port, secret,
                                 answer_for, on_listening, self.request.wait_s)
        self.figures.refused_joiners = result.refused

    def _open_face_channel(self) -> None:
        """The face channel, agreed on both sides beforehand (negotiated, id 0), so it
        opens with the connection and no in-band announcement."""
        self.channel = self.pc.createDataChannel(FACE_CHANNEL, negotiated=True, id=0,
                                                 ordered=False, maxRetransmits=0)
        self.channel.on("message", self._on_message)
        self.channel.on("close", self._ended.set)

    def _send_voice_on_offered_transceiver(self) -> None:
        """The host answers with its voice on the audio the joiner offered (none offered:
        the peer hears nothing, and its face still comes)."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.direction = "sendrecv"
                transceiver.sender.replaceTrack(self.voice_out)
                return
        notice("the peer offered no voice; the call carries faces only.")

    def _local_description(self, kind: str):
        async def make() -> str:
            made = await (self.pc.createOffer() if kind == "offer" else self.pc.createAnswer())
            await self.pc.setLocalDescription(made)  # gathers every (host) candidate
            return self.pc.localDescription.sdp
        return make

    async def _until_open(self) -> None:
        async def opened() -> None:
            while not (self.pc.connectionState == "connected"
                       and self.channel.readyState == "open"):
                if self.pc.connectionState in ("failed", "closed"):
                    raise LivefaceError("the call could not connect (ICE or DTLS failed); "
                                        "check that both sides can reach each other's address.")
                await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(opened(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise LivefaceError(f"the call did not connect within {CONNECT_TIMEOUT_S:g} s."
                                ) from None

    async def _hold(self) -> None:
        tasks = [asyncio.create_task(self._display()), asyncio.create_task(self._ping())]
        try:
            ended = asyncio.create_task(self._ended.wait())
            await asyncio.wait([ended], timeout=self.request.duration_s)
            ended.cancel()
            self.sender.raise_if_failed()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task

    def hang_up(self) -> None:
        """End the call from another thread (the headset's, when it stops)."""
        loop, ended = getattr(self, "loop", None), self._ended
        if loop is not None and ended is not None:
            with suppress(RuntimeError):  # the loop has closed: the call is over already
                loop.call_soon_threadsafe(ended.set)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._ended.set()

    # -- this side out (the sender's thread hands over to the loop) ---------------------------
    def _on_voice(self, seq: int, block: np.ndarray) -> None:
        self.loop.call_soon_threadsafe(self.voice_out.put, seq, block)

    def _cut_network_for_outage(self) -> None:
        """Testing (`--outage START:SECONDS`): every packet this side sends (voice, faces,
        pings) is dropped on the way out for SECONDS, as if its network had gone, while the
        microphone, the model and the encoder go on; the ICE connectivity checks still pass,
        as they would for a short loss. Reaches into aiortc's ICE transport (test use only)."""
        if self.request.outage is None:
            return
        start_s, length_s = self.request.outage
        ice = self.channel.transport.transport.transport
        send = ice._send

        async def send_unless_cut(data: bytes) -> None:
            since_s = self.clock.now_s() - self.figures.connected_s - start_s
            if not 0.0 <= since_s < length_s:
                await send(data)
        ice._send = send_unless_cut

    def _on_face(self, message: wire.FaceMessage, rig: np.ndarray) -> None:
        self.own_rig = rig
        self.loop.call_soon_threadsafe(self._send_face, wire.encode_face(message))

    def _send_face(self, data: bytes) -> None:
        if self.channel.readyState != "open":
            return
        self.figures.face_sent(len(data))
        if self.request.face_loss and self.random.random() < self.request.face_loss:
            return  # the lossy network of a test
        self.channel.send(data)


    # -- the clocks ----------------------------------------------------------------------------
    async def _ping(self) -> None:
        """Clock pings, and this side's avatar choice now and then."""
        for count in itertools.count():
            if self.channel.readyState == "open":
                self.channel.send(wire.encode_ping(round(self.clock.now_s() * 1e6)))
                if count % AVATAR_EVERY_PINGS == 0:
                    self.channel.send(wire.encode_avatar(self.own_choice))
            await asyncio.sleep(PING_PERIOD_S)


    async def _display(self) -> None:
        """The display tick: the peer's face at the moment of their voice heard now."""
        period_s = 1.0 / DISPLAY_HZ
        while True:
            now_s = self.clock.now_s()
            shown = self._show(now_s)
            if shown is not None:
                self._keep_picture(now_s, shown)
            await asyncio.sleep(period_s)

    def _keep_picture(self, now_s: float, shown) -> None:
        at_s = self.request.picture_at_s
        if at_s is not None and self.picture is None and now_s - self.figures.connected_s >= at_s:
            self.picture = (shown, self.own_rig)

    # -- afterwards ------------------------------------------------------------------------------
    def stats(self, animator_label: str, known: dict) -> dict:
        return self.peer_stats(known, role=self.role, animator=animator_label,
                               face_rate_hz=self.request.face_rate_hz,
                               sender=sender_stats(self.sender.figures))


def sender_stats(sent) -> dict:
    """This side's sender figures (app/call/sender.py SenderFigures) as the JSON says them."""
    return {"voice_blocks": sent.blocks, "faces": sent.faces, "skipped": sent.skipped,
            "model_ms_mean": round(sent.model_ms_total / max(1, sent.blocks - sent.skipped), 3)}
