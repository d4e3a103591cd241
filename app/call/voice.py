"""The voice: 20 ms blocks out as an aiortc audio track (Opus on the wire), and the
peer's voice in, played out against a clock the remote face follows.

Media time is the voice track's own: block n of the sender's microphone goes out with
pts = 320 n at 16 kHz, the Opus encoder carries that into the RTP timestamps, and aiortc's
receiver hands frames back with pts counted from the first packet (48 kHz). So a frame
received with pts P is media time P / 48000 s - OPUS_DELAY_S, the same time base the face messages' seq
numbers use (app/call/wire.py). That holds when the first voice packet arrives, which the
sender makes likely by starting its microphone only once the call is connected.

Playout (`PlayoutClock`): the peer's voice is heard from PLAYOUT_DELAY_S after its first
frame arrives, at the local clock's rate (headless: no sound card paces it).
"""

import asyncio
import fractions

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME

PLAYOUT_DELAY_S = 0.03  # behind the quickest transit seen: the call's jitter buffer
# aiortc decodes a received voice packet only once 4 more have arrived (80 ms); the playout
# clock is the jitter buffer here, so the receiver is told to wait for one (the earliest it
# can tell the packet's frame is whole): 60 ms less mouth-to-mouth
RECEIVE_PREFETCH = 1
# Opus delays what it decodes by its encoder's look-ahead: 312 samples at 48 kHz (libopus'
# pre-skip), 6.5 ms. A decoded frame with pts P holds the sender's audio of P - 6.5 ms;
# tests/test_call.py finds the received voice within 1 ms of the sent one after this.
OPUS_DELAY_S = 312 / 48_000
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE_HZ)


def prefer_opus(transceiver) -> None:
    """Offer Opus alone for the voice (aiortc also knows PCMU and PCMA)."""
    from aiortc import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities("audio").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() == "audio/opus"])


def shorten_receive_buffer(receiver) -> bool:
    """Make aiortc's voice receiver hand on each packet as soon as the next arrives (see
    RECEIVE_PREFETCH). aiortc (1.16) has no setting for it: this reaches into its receiver's
    jitter buffer, and returns False, changing nothing, where that is not as expected."""
    buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if buffer is None or not isinstance(getattr(buffer, "_prefetch", None), int):
        return False
    buffer._prefetch = RECEIVE_PREFETCH
    return True


def media_time_s(frame: av.AudioFrame) -> float:
    """The sender's media time of a received voice frame's first sample."""
    return float(frame.pts * frame.time_base) - OPUS_DELAY_S


class VoiceTrack(MediaStreamTrack):
    """The outgoing voice: blocks handed in by `put` (on the event loop's thread), in
    order, each with its block number."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self._blocks: asyncio.Queue = asyncio.Queue()

    def put(self, seq: int, block: np.ndarray) -> None:
        self._blocks.put_nowait((seq, block))

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        seq, block = await self._blocks.get()
        pcm = (np.clip(block, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE_HZ
        frame.pts = seq * SAMPLES_PER_FRAME
        frame.time_base = TIME_BASE
        return frame


class PlayoutClock:
    """Which moment of the peer's voice is being heard now (media seconds).

    A frame's transit is its arrival time minus its media time (the two clocks' offset
    plus the network's delay). The voice is heard `delay_s` behind the quickest transit
    seen, at the local clock's rate, so a burst at the start of a call (voice queued before
    the network was ready) does not add its backlog to every later frame. A frame that
    arrives after its moment is late (counted, its moment already heard as silence); after
    LATE_RUN late frames in a row the network has slowed and the playout moves back to the
    current transit (a rebuffer, counted). The media time reported never goes backwards:
    the clock stalls instead, as a voice player that has run dry does."""

    LATE_RUN = 3

    def __init__(self, delay_s: float = PLAYOUT_DELAY_S):
        self.delay_s = delay_s
        self._transit_s: float | None = None
        self._first_media_s = 0.0
        self._last_heard_s: float | None = None
        self._late_run = 0
        self.frames = self.late = self.rebuffers = 0
        self.newest_end_s = 0.0  # media time the received voice reaches

    def on_frame(self, media_s: float, duration_s: float, now_s: float) -> None:
        """A voice frame starting at `media_s` arrived at `now_s`."""
        self.frames += 1
        transit_s = now_s - media_s
        if self._transit_s is None:
            self._transit_s, self._first_media_s = transit_s, media_s
        scheduled_s = now_s - self._transit_s - self.delay_s  # what should be heard now
        if scheduled_s > media_s + duration_s:
            self.late += 1
            self._late_run += 1
            if self._late_run >= self.LATE_RUN:
                self._transit_s, self._late_run = transit_s, 0
                self.rebuffers += 1
        else:
            self._late_run = 0
            self._transit_s = min(self._transit_s, transit_s)
        self.newest_end_s = max(self.newest_end_s, media_s + duration_s)

    def media_at(self, now_s: float) -> float | None:
        """The media time heard at `now_s`; None before the first frame plays."""
        if self._transit_s is None:
            return None
        heard = now_s - self._transit_s - self.delay_s
        if self._last_heard_s is None and heard < self._first_media_s:
            return None
        heard = min(heard, self.newest_end_s)
        if self._last_heard_s is not None:
            heard = max(heard, self._last_heard_s)
        self._last_heard_s = heard
        return heard

    def scheduled_at(self, now_s: float) -> float | None:
        """The media time due now, even past the voice received: where the heard voice
        would be had none run dry (the faces follow it, so a stalled voice does not hold
        its last face up); None before the first frame."""
        return None if self._transit_s is None else now_s - self._transit_s - self.delay_s

    def depth_s(self, now_s: float) -> float:
        """Voice received but not yet heard."""
        heard = self.media_at(now_s)
        return 0.0 if heard is None else max(0.0, self.newest_end_s - heard)


def mono(frame: av.AudioFrame) -> np.ndarray:
    """A decoded voice frame (Opus: 48 kHz, interleaved stereo s16) as mono float32."""
    data = frame.to_ndarray().astype(np.float32) / 32768.0
    channels = len(frame.layout.channels)
    return data.reshape(-1, channels).mean(axis=1) if frame.format.is_packed else data.mean(axis=0)


def to_16k(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """Mono samples at `rate_hz` (a multiple of 16 kHz) at 16 kHz: a box mean over each
    group (enough for the recording that tests line up against the file sent; the speaker
    plays the 48 kHz)."""
    factor = rate_hz // SAMPLE_RATE_HZ
    if factor <= 1:
        return samples
    usable = len(samples) // factor * factor
    return samples[:usable].reshape(-1, factor).mean(axis=1)
