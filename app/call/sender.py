"""This side's voice and face: the microphone (or a file) in 20 ms blocks, each block to
the voice track and through the live animator into a face message, on one clock.

Block n is samples [320 n, 320 n + 320) since the call connected; its number is the seq of
its face message and the pts of its voice frame, so the receiver can put the two back
together (app/call/voice.py). Every block is sent as voice. The model sees every block
too unless it has fallen behind: a block captured longer than `max_lag_ms` ago is not
animated (the face skips, counted), as in the live pipeline (app/live/model_worker.py),
whose `PendingAudio` keeps the blocks and their capture times here as well.

A look-ahead model (one that waits L blocks before it samples a face) answers block n with
the face of block n - L: that face goes out as seq n - L, with that block's capture time, so
the wait counts in the mouth-to-mouth latency.

The latent sent is the animator's own (the model's 32 floats); an animator without one
(the loudness stand-in) has its rig vector encoded by the codec.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
from app.audio.sources import AudioSource, Clock, DeviceLostError
from app.call.wire import FaceMessage
from app.live.model_worker import PendingAudio
from app.live.worker import Worker
from app.model.codec import ExpressionCodec
from app.model.lip_contact import NONE

READ_SAMPLES = 16_000  # the most one read asks of the source


@dataclass
class SenderFigures:
    blocks: int = 0  # voice blocks sent
    faces: int = 0  # face messages made
    skipped: int = 0  # blocks the model skipped to catch up
    model_ms_total: float = 0.0


class CallSender(Worker):
    name = "liveface-call-sender"

    def __init__(self, source: AudioSource, animator, codec: ExpressionCodec, clock: Clock,
                 on_voice: Callable[[int, np.ndarray], None],
                 on_face: Callable[[FaceMessage, np.ndarray], None],
                 face_stride: int = 1, max_lag_ms: float = 60.0):
        """`on_voice(seq, block)` and `on_face(message, rig)` are called on this thread;
        they must only hand over (to the event loop). `face_stride` 2 sends every other
        face (25 fps)."""
        super().__init__()
        self.source, self.animator, self.codec, self.clock = source, animator, codec, clock
        self.on_voice, self.on_face = on_voice, on_face
        self.face_stride, self.max_lag_s = face_stride, max_lag_ms / 1000.0
        self.pending = PendingAudio(READ_SAMPLES + 4 * SAMPLES_PER_FRAME)
        self.emotion = (0, 0.0)  # (index into EMOTIONS, intensity), replaced whole
        self.muted = False
        self.head: tuple[float, float, float] | None = None  # tracked (rig angles), replaced whole
        self.figures = SenderFigures()

    def startup(self) -> None:
        self.source.start()

    def shutdown(self) -> None:
        self.source.stop()

    def step(self) -> None:
        try:
            samples, capture_s = self.source.read(READ_SAMPLES)
        except DeviceLostError:
            samples, capture_s = np.zeros(0, np.float32), None
        if capture_s is not None and samples.size:
            self.pending.append(samples, capture_s)
        if self.pending.whole_blocks == 0:
            self.clock.sleep_s(0.002)
            return
        while self.pending.whole_blocks:
            seq = self.pending.start // SAMPLES_PER_FRAME
            block, block_capture_s = self.pending.pop_block()
            if self.muted:
                block[:] = 0.0
            self.on_voice(seq, block)
            self.figures.blocks += 1
            if self.clock.now_s() - block_capture_s > self.max_lag_s:
                self.figures.skipped += 1
                continue
            self._animate(seq, block, block_capture_s)

    def _animate(self, seq: int, block: np.ndarray, capture_s: float) -> None:
        started_s = self.clock.now_s()
        emotion, intensity = self.emotion
        frame = self.animator.push(torch.from_numpy(block), emotion=emotion, intensity=intensity)
        rig = _vector(frame.rig)
        latent = getattr(frame, "latent", None)
        if latent is None:
            with torch.inference_mode():
                latent = self.codec.encode(torch.from_numpy(rig))
        self.figures.model_ms_total += (self.clock.now_s() - started_s) * 1000.0
        # a look-ahead model answers block seq with the face of block seq - L
        ahead = getattr(self.animator, "lookahead_frames", 0)
        seq, capture_s = seq - ahead, capture_s - ahead * SAMPLES_PER_FRAME / SAMPLE_RATE_HZ
        if seq < 0 or seq % self.face_stride:
            return
        contact = getattr(frame, "contact", None)  # the lips the contact head asked for
        message = FaceMessage(seq, round(capture_s * 1e6), _vector(latent), emotion, intensity,
                              head=self.head, muted=self.muted,
                              contact=NONE if contact is None else int(contact.reshape(-1)[-1]))
        self.figures.faces += 1
        self.on_face(message, rig)


def _vector(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float32).numpy()
    return np.asarray(values, np.float32).reshape(-1).copy()
