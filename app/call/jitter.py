"""The remote face against the remote voice's playout clock: a jitter buffer that shows,
at each moment, the face of the audio being heard, and conceals what the network lost.

Time here is media time: seconds of the peer's voice track (block n covers [n, n + 1) *
20 ms, and face n stands for the middle of its block, as in app/inference.video_frames).
`sample(media_s)` is pure given what has arrived; the caller brings the playout clock.

Concealment, when the face for the moment heard is missing (lost or late):
- a gap of at most BRIDGE_S between two frames that did arrive is bridged by
  interpolating between them (the buffer runs behind the network, so the next frame is
  often there already);
- otherwise the newest earlier frame is held for HOLD_S, then eased to the rest face over
  EASE_S: a lost stream never leaves the mouth frozen open (HOLD_S + EASE_S < 200 ms).
"""

from dataclasses import dataclass

import numpy as np

from app.audio.contract import FRAME_RATE_HZ
from app.avatar.rig import neutral_rig
from app.avatar.texture_controls import NUM_REGIONS

FRAME_S = 1.0 / FRAME_RATE_HZ
BRIDGE_S = 0.12
HOLD_S = 0.06
EASE_S = 0.10
CAPACITY_FRAMES = 256  # about 5 s of frames kept; older ones are dropped
FUTURE_LIMIT_S = 10.0  # a frame further ahead of the playout than this is refused

FRESH, BRIDGED, HELD, EASING, REST = "fresh", "bridged", "held", "easing", "rest"


@dataclass(frozen=True)
class RemoteFrame:
    seq: int
    rig: np.ndarray  # (RIG_SIZE,) float32, decoded by this side's codec
    wrinkle: np.ndarray  # (NUM_REGIONS,)
    flush: np.ndarray  # (NUM_REGIONS,)
    capture_s: float  # when its audio's last sample was captured, on this side's clock


@dataclass(frozen=True)
class Shown:
    rig: np.ndarray
    wrinkle: np.ndarray
    flush: np.ndarray
    state: str  # FRESH, BRIDGED, HELD, EASING or REST
    face_media_s: float | None  # the media time the shown face stands for (None at rest)
    capture_s: float | None  # when the audio of the moment shown was captured (fresh only)


_REST_RIG = neutral_rig()
_REST_TEXTURE = np.zeros(NUM_REGIONS, np.float32)
REST_SHOWN = Shown(_REST_RIG, _REST_TEXTURE, _REST_TEXTURE, REST, None, None)


def frame_media_s(seq: int) -> float:
    """The media time face `seq` stands for: the middle of its 20 ms block."""
    return (seq + 0.5) * FRAME_S


class FaceJitterBuffer:
    def __init__(self):
        self._frames: dict[int, RemoteFrame] = {}
        self.late = 0  # frames that arrived after their moment had been played
        self.refused = 0  # frames too far from the playout to be kept
        self.duplicates = 0

    def push(self, frame: RemoteFrame, playout_media_s: float | None) -> None:
        """Keep a decoded frame; `playout_media_s` is what is being heard now (None
        before the voice has started)."""
        if frame.seq in self._frames:
            self.duplicates += 1
            return
        if playout_media_s is not None:
            if frame_media_s(frame.seq) > playout_media_s + FUTURE_LIMIT_S:
                self.refused += 1
                return
            if frame_media_s(frame.seq) < playout_media_s - FRAME_S:
                self.late += 1  # still kept: it can bridge a later gap
        self._frames[frame.seq] = frame
        if len(self._frames) > CAPACITY_FRAMES:
            del self._frames[min(self._frames)]

    def depth_s(self, playout_media_s: float) -> float:
        """How far the newest frame reaches beyond the moment heard (the buffer's depth)."""
        if not self._frames:
            return 0.0
        return max(0.0, frame_media_s(max(self._frames)) - playout_media_s)

    def sample(self, media_s: float) -> Shown:
        """The face to show while the voice at `media_s` is heard."""
        position = media_s * FRAME_RATE_HZ - 0.5  # in frames
        low = int(np.floor(position))
        before = self._newest_at_or_before(low)
        if before is None:
            return REST_SHOWN
        after = self._oldest_after(before.seq, position)
        if after is not None and (after.seq - before.seq) * FRAME_S <= BRIDGE_S:
            w = float(np.clip((position - before.seq) / (after.seq - before.seq), 0.0, 1.0))
            state = FRESH if after.seq - before.seq == 1 or before.seq == low and w == 0 else BRIDGED
            capture_s = before.capture_s + media_s - (before.seq + 1) * FRAME_S
            return Shown(*(_blend(a, b, w) for a, b in _parts(before, after)), state, media_s,
                         capture_s)
        gap_s = (position - before.seq) * FRAME_S
        if gap_s <= 1e-9:
            return Shown(before.rig, before.wrinkle, before.flush, FRESH, media_s,
                         before.capture_s)
        if gap_s <= HOLD_S:
            return Shown(before.rig, before.wrinkle, before.flush, HELD,
                         frame_media_s(before.seq), None)
        w = min(1.0, (gap_s - HOLD_S) / EASE_S)
        rest = RemoteFrame(before.seq, _REST_RIG, _REST_TEXTURE, _REST_TEXTURE, 0.0)
        state = REST if w >= 1.0 else EASING
        return Shown(*(_blend(a, b, w) for a, b in _parts(before, rest)), state,
                     None if state == REST else frame_media_s(before.seq), None)

    def _newest_at_or_before(self, seq: int) -> RemoteFrame | None:
        for candidate in range(seq, seq - CAPACITY_FRAMES, -1):
            if candidate in self._frames:
                return self._frames[candidate]
        return None

    def _oldest_after(self, seq: int, position: float) -> RemoteFrame | None:
        limit = seq + int(BRIDGE_S * FRAME_RATE_HZ)
        for candidate in range(seq + 1, limit + 1):
            if candidate in self._frames:
                return self._frames[candidate] if candidate >= position else None
        return None


def _parts(a: RemoteFrame, b: RemoteFrame):
    return ((a.rig, b.rig), (a.wrinkle, b.wrinkle), (a.flush, b.flush))


def _blend(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return a + np.float32(w) * (b - a)
