"""One remote participant coming in: their faces, their voice, their clock, their figures.

`PeerReceiver` is the receiving half of a call, shared by the two-person call
(app/call/session.py, one peer) and the room (app/call/room.py, one per participant): it
decodes each face message with this side's codec into the jitter buffer, times their voice
on its own playout clock, answers their clock pings and samples the face to show at each
display tick. Its owner sets the state up with `start_receiving`, provides `self.loop` (the
event loop) and `self.pc` (the peer connection their voice comes on), and sends what
`_reply` is given (a pong) on its own face channel.
"""

from pathlib import Path

import numpy as np
import torch

from app.avatar.rig import GAZE_SLICE, HEAD_SLICE, clamp_rig
from app.call import wire
from app.call.avatars import peer_avatar
from app.call.figures import RECONNECTING_AFTER_S, CallFigures
from app.call.jitter import FaceJitterBuffer, RemoteFrame, frame_media_s
from app.call.speaker import PeerSpeaker
from app.call.voice import (
    PlayoutClock,
    media_time_s,
    mono,
    shorten_receive_buffer,
    to_16k,
)
from app.data.teacher import default_geometry
from app.errors import notice
from app.live.model_worker import BLINK_INDICES
from app.model.lip_contact import NONE, LipGeometry, apply_contact


class PeerReceiver:
    def start_receiving(self, clock, codec, speaker: bool, record_voice: bool,
                        name: str = "the peer") -> None:
        """The receiving state, empty: nothing heard from this peer yet."""
        self.clock, self.codec, self.peer_name = clock, codec, name
        # the lips a peer's contact codes close and part: the default head's, as the codes
        # were made for (app.model.lip_contact)
        self.lips = LipGeometry.from_face(default_geometry())
        self.peer_choice: wire.AvatarChoice | None = None
        self.peer_seq = 0  # the newest face seq received, whole
        self._said_reconnecting = False  # "reconnecting" said for the silence now
        self.peer_clock_us: int | None = None  # the peer's clock, from its last ping or pong
        self.figures = CallFigures(clock)
        self.jitter = FaceJitterBuffer()
        self.playout = PlayoutClock()
        self.last_shown = None
        self.record_voice = record_voice
        self.peer_voice: list[tuple[float, np.ndarray]] = []
        self.speaker = PeerSpeaker(clock) if speaker else None
        self.speaker_playing = False
        self._clock_offset: tuple[float, float] | None = None  # (rtt s, peer - local s)
        # what the voice's timing is learned from where it starts mid-stream (a room)
        self.quickest_voice_s = float("inf")  # min(arrival - media time) of voice frames
        self.capture_base_s = float("inf")  # min(capture - seq's media time), peer's clock

    def media_offset_s(self) -> float | None:
        """The sender's media time minus the received voice's (None: not known yet). In a
        two-person call the voice's first packet is the sender's first block: zero."""
        return 0.0

    def _reply(self, data: bytes) -> None:
        """Send on this side's face channel (a pong to the peer's ping)."""
        self.channel.send(data)

    def _own_ping(self, t_ping_us: int) -> bool:
        """Whether a pong answers a ping this side sent (in a room, everyone's pongs come)."""
        return True

    def _on_message(self, data) -> None:
        now_s = self.clock.now_s()
        self._heard_from_peer(now_s)
        self.figures.message_received(len(data) if isinstance(data, (bytes, bytearray)) else 0)
        try:
            message = wire.decode(data)
        except wire.Malformed as err:
            self.figures.malformed[err.reason] += 1
            if err.reason == "wrong_version" and self.figures.malformed[err.reason] == 1:
                notice(f"the peer sends messages this liveface cannot read (not version "
                       f"{wire.VERSION}); its faces are dropped: run the same liveface release "
                       "on both sides.")
            return
        if isinstance(message, wire.Ping):
            self.peer_clock_us = message.t_ping_us
            self._reply(wire.encode_pong(message.t_ping_us, round(now_s * 1e6)))
        elif isinstance(message, wire.Pong):
            self.peer_clock_us = message.t_pong_us
            self._on_pong(message, now_s)
        elif isinstance(message, wire.AvatarChoice):
            self.peer_choice = message
        else:
            self._on_peer_face(message)

    def _on_peer_face(self, message: wire.FaceMessage) -> None:
        with torch.inference_mode():
            decoded = self.codec.decode(torch.from_numpy(message.latent))
            rig = decoded.rig
            if message.contact != NONE:  # the sender's head heard lips meet or part
                rig = apply_contact(rig, torch.tensor(message.contact), self.lips)
        rig, wrinkle, flush = (x.numpy().astype(np.float32) for x in
                               (rig, decoded.wrinkle, decoded.flush))
        rig = measured_over_model(rig, message)
        seq = wire.unwrap(message.seq, 16, self.peer_seq)  # the wire carries its low bits
        self.peer_seq = max(self.peer_seq, seq)
        capture_s = (float("nan") if self.peer_clock_us is None  # no ping from the peer yet
                     else wire.unwrap(message.capture_us, 32, self.peer_clock_us) / 1e6)
        self.figures.face_received(seq)
        self.figures.tracked_heads_received += message.head is not None
        frame = RemoteFrame(seq, rig, wrinkle, flush, capture_s)
        if np.isfinite(capture_s):
            self.capture_base_s = min(self.capture_base_s, capture_s - frame_media_s(seq))
        heard_s, offset_s = self.playout.media_at(self.clock.now_s()), self.media_offset_s()
        self.jitter.push(frame, None if heard_s is None or offset_s is None
                         else heard_s + offset_s)

    def _on_track(self, track) -> None:
        if track.kind == "audio":
            receivers = [t.receiver for t in self.pc.getTransceivers()
                         if t.receiver.track is track]
            if not (receivers and shorten_receive_buffer(receivers[0])):
                notice("this aiortc's voice receiver could not be shortened: the peer's voice "
                       "plays about 60 ms later than it could.")
            self.loop.create_task(self._receive_voice(track))

    async def _receive_voice(self, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            media_s = media_time_s(frame)
            self._heard_from_peer(self.clock.now_s())
            now_s = self.clock.now_s()
            self.playout.on_frame(media_s, frame.samples / frame.sample_rate, now_s)
            self.quickest_voice_s = min(self.quickest_voice_s, now_s - media_s)
            if self.speaker_playing or self.record_voice:
                samples = mono(frame)
                if self.speaker_playing:
                    self.speaker.write(media_s, samples)
                if self.record_voice:
                    self.peer_voice.append((media_s, to_16k(samples, frame.sample_rate)))

    def peer_silent(self) -> bool:
        """Nothing from the peer for a while: "reconnecting" (any thread may ask)."""
        return self.figures.peer_silent(self.clock.now_s())

    def _heard_from_peer(self, now_s: float) -> None:
        silent_s = self.figures.heard_from_peer(now_s)
        if silent_s is not None:
            notice(f"{self.peer_name} is back after {silent_s:.1f} s; the call goes on.")
            self._said_reconnecting = False

    def _on_pong(self, pong: wire.Pong, now_s: float) -> None:
        """Cristian's estimate of the peer's clock: the pong was stamped half a round trip
        ago; the sample with the shortest round trip is the one kept."""
        if not self._own_ping(pong.t_ping_us):
            return
        sent_s = pong.t_ping_us / 1e6
        rtt_s = now_s - sent_s
        if rtt_s < 0 or rtt_s > 5.0:
            return
        offset_s = pong.t_pong_us / 1e6 - (sent_s + now_s) / 2
        if self._clock_offset is None or rtt_s < self._clock_offset[0]:
            self._clock_offset = (rtt_s, offset_s)
        self.figures.clock_offset = self._clock_offset

    def _show(self, now_s: float):
        """The peer's face at the moment of their voice heard now (None: nothing heard)."""
        heard_s, offset_s = self.playout.media_at(now_s), self.media_offset_s()
        if self.figures.peer_silent(now_s) and not self._said_reconnecting:
            self._said_reconnecting = True
            notice(f"nothing from {self.peer_name} for {RECONNECTING_AFTER_S:g} s: reconnecting "
                   "(their face rests until they are back).")
        if heard_s is None or offset_s is None:
            return None
        face_s = heard_s + offset_s  # the voice heard, on the faces' time line
        # the faces run on when the voice runs dry (a lost peer): held, then at rest
        shown = self.jitter.sample(max(face_s, self.playout.scheduled_at(now_s) + offset_s))
        offset = None if self._clock_offset is None else self._clock_offset[1]
        self.figures.displayed(now_s, face_s, shown, offset,
                               self.playout.depth_s(now_s), self.jitter.depth_s(face_s))
        self.last_shown = shown
        if self.speaker_playing:
            self.speaker.steer(heard_s)
        return shown

    def peer_stats(self, known: dict, **extra) -> dict:
        """This peer's figures (app/call/figures.py), `extra` beside them; `known`: the
        avatars this side has, by content hash."""
        self.figures.voice = {"frames": self.playout.frames, "late": self.playout.late,
                              "rebuffers": self.playout.rebuffers,
                              "playout_delay_ms": round(self.playout.delay_s * 1000, 1)}
        self.figures.late_faces = self.jitter.late
        choice, speaker = self.peer_choice, self.speaker
        return self.figures.to_dict(
            **extra,
            peer_avatar=None if choice is None else {
                "name": choice.name, "sha256": choice.sha256.hex(),
                "drawn_with": "theirs" if peer_avatar(choice, known) else "the default head"},
            speaker={"playing": self.speaker_playing,
                     "latency_ms": round(speaker.latency_s * 1000, 1) if speaker else None,
                     "resyncs": speaker.resyncs if speaker else 0})

    def save_peer_voice(self, path: Path) -> None:
        """The peer's voice as received, each frame at its media time (gaps silent)."""
        from app.audio.contract import SAMPLE_RATE_HZ
        from app.audio.io import write_wav

        if not self.peer_voice:
            notice("no voice came from the peer; nothing recorded.")
            return
        end = max(max(0, round(m * SAMPLE_RATE_HZ)) + len(x) for m, x in self.peer_voice)
        audio = np.zeros(end, np.float32)
        for media_s, samples in self.peer_voice:
            start = round(media_s * SAMPLE_RATE_HZ)
            if start < 0:  # the codec's look-ahead before the first sample sent
                samples, start = samples[-start:], 0
            audio[start:start + len(samples)] = samples
        write_wav(path, audio)


def measured_over_model(rig: np.ndarray, message: wire.FaceMessage) -> np.ndarray:
    """The decoded rig with what the peer measured in place of what the model made up: a
    tracked head, an eye tracker's gaze, an eye camera's blinks (each only when sent)."""
    if message.head is not None:
        rig[HEAD_SLICE] = message.head
    if message.gaze is not None:
        rig[GAZE_SLICE] = message.gaze
    if message.eyelids is not None:
        rig[BLINK_INDICES] = message.eyelids
    return clamp_rig(rig)
