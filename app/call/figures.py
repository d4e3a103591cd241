"""A call's figures, as `--stats-json` writes them.

Definitions (this side's clock; the peer's converted with the clock offset the pings
measure, app/call/session.py):
- mouth_to_mouth_ms: at each display tick that shows a face that arrived (fresh or
  bridged), from when the peer's microphone captured the moment shown to now.
- audio_face_offset_ms: at each display tick, the media time of the face shown minus the
  media time of the voice heard (negative: the face lags the voice). A held or easing
  face counts with the time of the frame held; the rest face (nothing to show) does not.
- face_kbit_s: data-channel payload received per second of the call (kbit = 1000 bits);
  face_kbit_s_sent the same for what this side sent. UDP, DTLS and SCTP headers come on top.
- face_loss: 1 - distinct faces received / faces the peer's seq numbers say were sent.
- frames_received: face messages received and accepted; malformed: refused, by reason.
- tracked_heads_received: of those, how many carried the peer's tracked head (a headset).
- jitter_depth_ms: voice received but not yet heard, and faces beyond the moment heard.
- shown: display ticks by what they showed (fresh, bridged, held, easing, rest).
- stale_open_ms_max: the longest run of ticks showing a held or easing face with the jaw
  open (jawOpen > OPEN_JAW): how long a lost stream kept the mouth open.
- reconnecting: the times nothing (voice, face or ping) came from the peer for
  RECONNECTING_AFTER_S or longer while the connection stood, and the longest and total of
  those silences (from the last thing heard to the next); the ticks meanwhile count as
  "reconnecting" in `shown` and in the trace.
"""

from collections import Counter

import numpy as np

from app.avatar.rig import RIG_INDEX
from app.call.jitter import EASING, HELD, Shown
from app.call.wire import REASONS

OPEN_JAW = 0.1
RECONNECTING_AFTER_S = 1.0  # the peer silent this long (pings come every PING_PERIOD_S)
RECONNECTING = "reconnecting"
JAW = RIG_INDEX["jawOpen"]
TRACE_LIMIT = 200_000  # display ticks kept for --trace-json (about an hour at 60 Hz)


class CallFigures:
    def __init__(self, clock):
        self.clock = clock
        self.started_s = clock.now_s()
        self.connected_s: float | None = None
        self.bytes_received = self.bytes_sent = 0
        self.faces_sent = 0
        self.frames_received = 0
        self.seqs: set[int] = set()
        self.malformed: Counter = Counter({reason: 0 for reason in REASONS})
        self.refused_joiners: list[str] = []
        self.clock_offset: tuple[float, float] | None = None  # (rtt s, peer - local s)
        self.voice: dict = {}
        self.late_faces = 0
        self.tracked_heads_received = 0
        self._offset_s: list[float] = []
        self._mouth_to_mouth_s: list[float] = []
        self._voice_depth_s: list[float] = []
        self._face_depth_s: list[float] = []
        self.shown: Counter = Counter()
        self._stale_open_since: float | None = None
        self.stale_open_s_max = 0.0
        self.trace: list[tuple[float, float, float, str]] = []
        self.last_heard_s: float | None = None  # when the peer last sent anything
        self.silences_s: list[float] = []  # the peer's silences that showed "reconnecting"

    def connected(self) -> None:
        self.connected_s = self.clock.now_s()

    def face_sent(self, size: int) -> None:
        self.faces_sent += 1
        self.bytes_sent += size

    def message_received(self, size: int) -> None:
        self.bytes_received += size

    def heard_from_peer(self, now_s: float) -> float | None:
        """Something came from the peer; returns how long they had been silent when that
        silence showed "reconnecting" (else None)."""
        silent_s = None if self.last_heard_s is None else now_s - self.last_heard_s
        self.last_heard_s = now_s
        if silent_s is None or silent_s < RECONNECTING_AFTER_S:
            return None
        self.silences_s.append(silent_s)
        return silent_s

    def peer_silent(self, now_s: float) -> bool:
        return (self.last_heard_s is not None
                and now_s - self.last_heard_s >= RECONNECTING_AFTER_S)

    def _reconnecting(self, now_s: float) -> dict:
        """The silences that showed "reconnecting", the one still going at the end too."""
        silences = self.silences_s + ([now_s - self.last_heard_s] if self.peer_silent(now_s)
                                      else [])
        return {"times": len(silences), "longest_s": round(max(silences, default=0.0), 3),
                "total_s": round(sum(silences), 3), "at_the_end": self.peer_silent(now_s)}

    def face_received(self, seq: int) -> None:
        self.frames_received += 1
        self.seqs.add(seq)

    def displayed(self, now_s: float, heard_s: float, shown: Shown, clock_offset_s: float | None,
                  voice_depth_s: float, face_depth_s: float) -> None:
        state = RECONNECTING if self.peer_silent(now_s) else shown.state
        self.shown[state] += 1
        if shown.face_media_s is not None:
            self._offset_s.append(shown.face_media_s - heard_s)
        if shown.capture_s is not None and np.isfinite(shown.capture_s) \
                and clock_offset_s is not None:
            self._mouth_to_mouth_s.append(now_s - (shown.capture_s - clock_offset_s))
        self._voice_depth_s.append(voice_depth_s)
        self._face_depth_s.append(face_depth_s)
        jaw = float(shown.rig[JAW])
        if shown.state in (HELD, EASING) and jaw > OPEN_JAW:
            self._stale_open_since = self._stale_open_since or now_s
            self.stale_open_s_max = max(self.stale_open_s_max, now_s - self._stale_open_since)
        else:
            self._stale_open_since = None
        if len(self.trace) < TRACE_LIMIT:
            self.trace.append((round(now_s - (self.connected_s or now_s), 4), round(heard_s, 4),
                               round(jaw, 4), state))

    def face_loss(self) -> float | None:
        """Lost faces over faces sent, the sending stride read off the seq numbers."""
        if len(self.seqs) < 2:
            return None
        ordered = np.array(sorted(self.seqs))
        stride = int(np.bincount(np.diff(ordered)).argmax()) or 1
        expected = (ordered[-1] - ordered[0]) // stride + 1
        return round(max(0.0, 1.0 - len(ordered) / expected), 4)

    def to_dict(self, **extra) -> dict:
        now_s = self.clock.now_s()
        seconds = max(1e-6, now_s - (self.connected_s or now_s))
        return {
            **extra,
            "connected": self.connected_s is not None,
            "connect_s": None if self.connected_s is None else round(
                self.connected_s - self.started_s, 3),
            "call_s": round(seconds, 3),
            "mouth_to_mouth_ms": percentiles_ms(self._mouth_to_mouth_s),
            "audio_face_offset_ms": percentiles_ms(self._offset_s),
            "face_kbit_s": round(self.bytes_received * 8 / seconds / 1000, 3),
            "face_kbit_s_sent": round(self.bytes_sent * 8 / seconds / 1000, 3),
            "face_loss": self.face_loss(),
            "frames_received": self.frames_received,
            "tracked_heads_received": self.tracked_heads_received,
            "frames_sent": self.faces_sent,
            "late_faces": self.late_faces,
            "malformed": dict(self.malformed),
            "voice": self.voice,
            "jitter_depth_ms": {"voice": percentiles_ms(self._voice_depth_s),
                                "face": percentiles_ms(self._face_depth_s)},
            "shown": dict(self.shown),
            "stale_open_ms_max": round(self.stale_open_s_max * 1000, 1),
            "clock": None if self.clock_offset is None else {
                "rtt_ms": round(self.clock_offset[0] * 1000, 3),
                "offset_ms": round(self.clock_offset[1] * 1000, 3)},
            "refused_joiners": self.refused_joiners,
            "reconnecting": self._reconnecting(now_s),
        }


def percentiles_ms(values_s: list[float]) -> dict:
    if not values_s:
        return {"p50": None, "p99": None}
    p50, p99 = np.percentile(np.asarray(values_s, np.float64), [50, 99]) * 1000.0
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}
