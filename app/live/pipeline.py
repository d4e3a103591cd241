"""The live pipeline: a source, an animator on its own thread, and a non-blocking `sample`.

    with LivePipeline(source, animator, clock) as pipeline:
        while rendering:
            shown = pipeline.sample(clock.now_s())   # never waits for the model
            draw(shown.rig, shown.wrinkle, shown.flush)
    pipeline.stats.to_dict()

A failure on the model thread is raised from the next `sample` (and from `stop`), so the
render loop learns of it at once.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.audio.sources import AudioSource, Clock, SourceStatus
from app.avatar.emotions import EMOTIONS, check_emotion
from app.live.animators import AnimatorLike
from app.live.mailbox import DisplayFrame, FrameMailbox, LiveFrame, interpolate
from app.live.model_worker import ModelWorker, WorkerConfig
from app.live.stats import LatencyStats


@dataclass(frozen=True)
class PipelineStatus:
    source: SourceStatus
    device_ok: bool  # False while the microphone is lost
    muted: bool
    emotion: str
    intensity: float
    running: bool
    gaze: tuple[float, float] | None = None  # the measured gaze in use (rig signs), if any


class LivePipeline:
    def __init__(self, source: AudioSource, animator: AnimatorLike, clock: Clock,
                 config: WorkerConfig | None = None, stats: LatencyStats | None = None,
                 sinks: Sequence[Callable[[LiveFrame], None]] = ()):
        """`sinks` get every model frame on the model's thread (OSC output)."""
        self.clock = clock
        self.mailbox = FrameMailbox()
        self.stats = stats if stats is not None else LatencyStats()
        self.worker = ModelWorker(source, animator, clock, self.mailbox, self.stats,
                                  config or WorkerConfig(), sinks)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "LivePipeline":
        """Open the source and start the model thread; a source error is raised here."""
        self.worker.start()
        return self

    def stop(self) -> None:
        """Stop the model thread and close the source; raises the thread's error if any."""
        self.worker.stop()

    def __enter__(self) -> "LivePipeline":
        return self.start()

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.stop()
        else:
            try:
                self.stop()
            except Exception:  # noqa: BLE001 - the error already on its way out wins
                pass

    # -- the render side ---------------------------------------------------------------------
    def sample(self, display_s: float) -> DisplayFrame:
        """The face to show at `display_s`, between the two newest frames; never waits."""
        self.worker.raise_if_failed()
        previous, latest = self.mailbox.latest_two()
        shown = interpolate(previous, latest, display_s)
        if latest is not None:
            self.stats.record_display(display_s, latest.ready_s)
        return shown

    # -- controls ------------------------------------------------------------------------------
    @property
    def muted(self) -> bool:
        return self.worker.muted

    @muted.setter
    def muted(self, value: bool) -> None:
        """Muted, the model hears silence: the face rests but keeps its emotion."""
        self.worker.muted = bool(value)

    def set_emotion(self, emotion: str, intensity: float) -> None:
        check_emotion(emotion, intensity)
        self.worker.emotion = (EMOTIONS.index(emotion), float(intensity))

    def set_gaze(self, gaze: tuple[float, float] | None) -> None:
        """A measured gaze (yaw, pitch in radians, rig signs) for the next frames; None
        when the eyes are not tracked (the model then makes up its own)."""
        if gaze is not None and not all(math.isfinite(value) for value in gaze):
            gaze = None
        self.worker.gaze = None if gaze is None else (float(gaze[0]), float(gaze[1]))

    def set_eyelids(self, closure: float | None) -> None:
        """Measured eyelid closure (0 open .. 1 shut) for the next frames, replacing the
        model's own blinks; None when the eyes are not tracked."""
        if closure is not None and not math.isfinite(closure):
            closure = None
        self.worker.eyelids = None if closure is None else min(1.0, max(0.0, float(closure)))

    @property
    def status(self) -> PipelineStatus:
        emotion, intensity = self.worker.emotion
        return PipelineStatus(self.worker.source.status, not self.worker.device_lost,
                              self.worker.muted, EMOTIONS[emotion], intensity,
                              self.worker.running, self.worker.gaze)
