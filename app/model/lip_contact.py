"""Lip contact: a small classifier that hears when the lips must meet, and the edit it makes.

The student learns its mouth from the procedural teacher's references of synthetic voices,
and on recorded speakers it has never heard it leaves many p/b/m open and shuts some
vowels. The contact head is trained on frames of recorded speech as well (force-aligned,
several speakers and languages), with one question per 20 ms frame: is this silence,
other speech, or a p/b/m? (A head may be trained with a fourth class, the release: the
first frames of speech after a p/b/m, which it answers as other speech; see `RELEASE`.)
It reads the audio encoder's features of the last `context` frames (what the student
already computes; nothing is heard past the frame), and its answer edits the student's
face frame by frame:
- a p/b/m (probability above `close`): mouthClose rises until the lips meet (centre-line
  gap `CLOSED_GAP_MM`), as the teacher closes them;
- other speech (probability above `open`) while the lips are shut: mouthClose falls and,
  if that is not enough, the jaw opens a little, until the gap is `OPEN_GAP_MM`;
- anything else (silence, doubt): the student's face as it is.
The edit needs the lips' geometry: the centre-line lip vertices of the default avatar and
how each blendshape moves them (`LipGeometry`, kept in the bundle beside the head, so a
bundle animates the same on every machine). The rig stays the contract: any avatar shows
the edited rig, as it shows the teacher's closures.
"""

import torch
from torch import Tensor, nn

from app.avatar.landmarks import MM_PER_M, FaceGeometry
from app.avatar.rig import BLENDSHAPE_SLICE, RIG_INDEX

CLASSES = ("silence", "speech", "bilabial")  # what the head answers
SILENCE, SPEECH, BILABIAL = range(3)
# a fourth class a head may be trained with: the first frames of speech after a p/b/m, when
# the lips part again. Heard through the release's burst and the vowel's onset, they sound
# much like the p/b/m before them; a class of their own teaches the head where the closure
# ends, so the lips do not stay shut into the vowel. The head answers them as other speech.
RELEASE = 3
CLOSED_GAP_MM = 0.5  # under the metrics' 1 mm: the lips touch
OPEN_GAP_MM = 1.5  # apart, clearly, without a jump of the jaw
_ITERATIONS = 4  # the gap is piecewise linear in the weights; a few steps converge
_CLOSE, _JAW = RIG_INDEX["mouthClose"], RIG_INDEX["jawOpen"]


class LipGeometry(nn.Module):
    """The vertical position of the centre-line lip vertices, linear in the blendshapes."""

    def __init__(self, upper_rest: Tensor, upper_deltas: Tensor, lower_rest: Tensor,
                 lower_deltas: Tensor):
        super().__init__()
        self.register_buffer("upper_rest", upper_rest)  # (U,) metres
        self.register_buffer("upper_deltas", upper_deltas)  # (52, U)
        self.register_buffer("lower_rest", lower_rest)  # (L,)
        self.register_buffer("lower_deltas", lower_deltas)  # (52, L)
        self._per_unit: dict[int, Tensor] = {}  # gap_per_unit_mm, once per loaded geometry

    @classmethod
    def from_face(cls, face: FaceGeometry) -> "LipGeometry":
        def part(vertices):
            return (torch.from_numpy(face.rest[vertices, 1].copy()),
                    torch.from_numpy(face.deltas[:, vertices, 1].copy()))

        return cls(*part(face.upper_lip_centre), *part(face.lower_lip_centre))

    @classmethod
    def empty(cls, upper: int, lower: int, shapes: int = 52) -> "LipGeometry":
        """Buffers of the right shapes, to load a bundle's into."""
        return cls(torch.zeros(upper), torch.zeros(shapes, upper), torch.zeros(lower),
                   torch.zeros(shapes, lower))

    def gap_mm(self, rig: Tensor) -> Tensor:
        """(..., 57) -> (...): the upper lip's lowest centre point above the lower lip's
        highest, mm (as `FaceGeometry.lip_gap_mm`)."""
        weights = rig[..., BLENDSHAPE_SLICE]
        upper = (self.upper_rest + weights @ self.upper_deltas).amin(-1)
        lower = (self.lower_rest + weights @ self.lower_deltas).amax(-1)
        return (upper - lower) * MM_PER_M

    def gap_per_unit_mm(self, channel: int) -> Tensor:
        """How much one unit of a blendshape changes the gap at rest, mm (0-d)."""
        if channel not in self._per_unit:
            rig = self.upper_rest.new_zeros(2, BLENDSHAPE_SLICE.stop)
            rig[1, channel] = 1.0
            gaps = self.gap_mm(rig)
            self._per_unit[channel] = gaps[1] - gaps[0]
        return self._per_unit[channel]

    def _load_from_state_dict(self, *args, **kwargs):
        self._per_unit.clear()  # other lips: measure again
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn, *args, **kwargs):
        self._per_unit.clear()  # moved to another device or dtype
        return super()._apply(fn, *args, **kwargs)


class ContactHead(nn.Module):
    """Encoder features of the last `context` frames -> log-probabilities of `CLASSES`
    (with `release`, trained on `RELEASE` as a fourth class, answered as other speech)."""

    def __init__(self, audio_channels: int, context: int, hidden: int,
                 lips: LipGeometry, release: bool = False):
        super().__init__()
        self.context = context
        inputs = audio_channels * context
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("std", torch.ones(inputs))
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Dropout(0.2),
                                 nn.Linear(hidden, len(CLASSES) + int(release)))
        self.lips = lips

    def trained_log_probs(self, rows: Tensor) -> Tensor:
        """rows (..., context * C) -> (..., 3 or 4) log-probabilities of every class the
        head was trained on."""
        return torch.log_softmax(self.net((rows - self.mean) / self.std), dim=-1)

    def forward(self, rows: Tensor) -> Tensor:
        """rows (..., context * C), newest frame first -> (..., 3) log-probabilities."""
        log_probs = self.trained_log_probs(rows)
        if log_probs.shape[-1] == len(CLASSES):
            return log_probs
        speech = torch.logaddexp(log_probs[..., SPEECH], log_probs[..., RELEASE])
        return torch.stack([log_probs[..., SILENCE], speech, log_probs[..., BILABIAL]], dim=-1)

    def classify(self, features: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, n, C) of n new frames, tail (B, context - 1, C) of the frames
        before them -> log-probabilities (B, n, 3) and the new tail."""
        history = torch.cat([tail, features], dim=1)
        n = features.shape[1]
        rows = torch.cat([history[:, self.context - 1 - k:self.context - 1 - k + n]
                          for k in range(self.context)], dim=-1)
        return self(rows), history[:, history.shape[1] - (self.context - 1):]


def sequence_rows(features: Tensor, context: int) -> Tensor:
    """(T, C) features of a whole clip -> (T, context * C) rows, newest first, zeros before
    the clip (what `ContactHead.classify` builds frame by frame from a zero tail)."""
    padded = torch.cat([features.new_zeros(context - 1, features.shape[1]), features])
    frames = features.shape[0]
    return torch.cat([padded[context - 1 - k:context - 1 - k + frames]
                      for k in range(context)], dim=-1)


NONE, CLOSE, OPEN = 0, 1, 2  # what `contact_codes` asks of a frame


def contact_codes(log_probs: Tensor, close: float, open_: float) -> Tensor:
    """(..., 3) log-probabilities -> (...) int8: `CLOSE` where a p/b/m is heard (its
    probability above `close`), `OPEN` where other speech is (above `open_`), else `NONE`."""
    probs = log_probs.exp()
    closing = probs[..., BILABIAL] > close
    opening = (probs[..., SPEECH] > open_) & ~closing
    return (closing * CLOSE + opening * OPEN).to(torch.int8)


def apply_contact(rig: Tensor, codes: Tensor, lips: LipGeometry) -> Tensor:
    """The rig (..., 57) with the lips closed on `CLOSE` frames and, on `OPEN` frames
    where they are shut, parted (codes (...) from `contact_codes`; a call's receiver gets
    them with each face)."""
    out = rig
    for code, target_mm, shut in ((CLOSE, CLOSED_GAP_MM, True), (OPEN, OPEN_GAP_MM, False)):
        mask = codes == code
        if bool(mask.any()):
            out = _toward_gap(out, mask, lips, target_mm, shut)
    return out


def _toward_gap(rig: Tensor, mask: Tensor, lips: LipGeometry, target_mm: float,
                shut: bool) -> Tensor:
    """Close (raise mouthClose) to at most, or open (lower mouthClose, then raise jawOpen)
    to at least, `target_mm` on the masked frames."""
    rig = rig.clone()
    close_mm = lips.gap_per_unit_mm(_CLOSE).abs().clamp_min(1e-3)  # gap lost per unit
    jaw_mm = lips.gap_per_unit_mm(_JAW).abs().clamp_min(1e-3)  # gap gained per unit
    for _ in range(_ITERATIONS):
        gap = lips.gap_mm(rig)
        missing = ((gap - target_mm) if shut else (target_mm - gap)).clamp_min(0.0) * mask
        if not bool(missing.gt(1e-3).any()):
            break
        if shut:
            rig[..., _CLOSE] = (rig[..., _CLOSE] + missing / close_mm).clamp(max=1.0)
            continue
        release = torch.minimum(missing / close_mm, rig[..., _CLOSE])
        rig[..., _CLOSE] = rig[..., _CLOSE] - release
        rig[..., _JAW] = (rig[..., _JAW] + (missing - release * close_mm).clamp_min(0.0)
                          / jaw_mm).clamp(max=1.0)
    return rig
