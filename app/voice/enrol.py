"""Voice enrolment: fit the model to one person's voice from a minute of their takes, and
keep the fit only if it is better on takes it did not learn from.

    result = enrol(parts, enrolment, held_out)

`enrolment` and `held_out` are aligned takes (`app.voice.takes.check_take`: the take's
words force-aligned, animated by the procedural teacher). The student is fitted to the
enrolment takes (`app.training.adapt`: a voice adapter and fine-tuned weights), then it
animates the held-out takes as shipped and as fitted. Both are scored against the
teacher's tracks of those takes, pooled over them: p/b/m phones closed, vowels shut,
silences closed, and the lip vertex error (`app.eval.metrics`). The adapter is kept when
it closes more of the p/b/m phones and vowels shut do not rise beyond `VOWELS_SHUT_MAX`
(or beyond the model's own share without it), with LVE no more than `LVE_SLACK` worse:
what a person watching their avatar would call better.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.checkpoints import ModelParts, streaming_animator
from app.data.align import AlignedClip
from app.data.teacher import default_geometry
from app.eval.metrics import evaluate_clip
from app.inference import animate_audio
from app.model.voice_adapter import AdaptedEncoder, VoiceFit
from app.training.adapt import AdaptSettings, fit_voice

VOWELS_SHUT_MAX = 0.10  # a share of vowels shut that no kept adapter may exceed ...
LVE_SLACK = 1.02  # ... and an LVE it may not exceed by more than 2 %
SCORE_KEYS = ("bilabial_closed", "bilabial_phones", "vowels_closed", "vowels",
              "silences_closed", "silences")


@dataclass(frozen=True)
class EnrolResult:
    before: dict  # pooled scores of the held-out takes without the adapter
    after: dict  # ... and with it
    kept: bool
    fit: VoiceFit
    seconds: float  # how long fitting took


def adapted_parts(parts: ModelParts, fit: VoiceFit | None) -> ModelParts:
    """The student as fitted to a voice (the parts themselves if None)."""
    if fit is None:
        return parts
    return ModelParts(parts.config, AdaptedEncoder(fit.encoder, fit.adapter), fit.denoiser,
                      parts.codec, parts.contact)


def score_takes(parts: ModelParts, takes: list[AlignedClip], seed: int = 0) -> dict:
    """The student's pooled scores on the takes: closure counts summed over them, LVE
    (mm) averaged over them, as `liveface eval` pools a set."""
    animator = streaming_animator(parts)
    geometry = default_geometry()
    rows = [evaluate_clip(animate_audio(animator, take.audio, seed=seed).rig, take.rig,
                          take.timeline, geometry) for take in takes]
    pooled = {key: int(sum(row[key] for row in rows)) for key in SCORE_KEYS}
    return {**pooled, "lve_mm": round(float(np.mean([row["lve_mm"] for row in rows])), 3)}


def closure_share(scores: dict, kind: str) -> float:
    """'bilabial' or 'vowels' (closed / all), 'silences' likewise; NaN when there are none."""
    closed, total = {"bilabial": ("bilabial_closed", "bilabial_phones"),
                     "vowels": ("vowels_closed", "vowels"),
                     "silences": ("silences_closed", "silences")}[kind]
    return scores[closed] / scores[total] if scores[total] else float("nan")


def is_better(before: dict, after: dict) -> bool:
    """More p/b/m phones closed, vowels shut within bounds, LVE no worse than the slack."""
    vowels_limit = max(VOWELS_SHUT_MAX, closure_share(before, "vowels"))
    return (after["bilabial_closed"] > before["bilabial_closed"]
            and not closure_share(after, "vowels") > vowels_limit
            and after["lve_mm"] <= before["lve_mm"] * LVE_SLACK)


def enrol(parts: ModelParts, enrolment: list[AlignedClip], held_out: list[AlignedClip],
          settings: AdaptSettings = AdaptSettings(),
          log: Callable[[int, dict], None] | None = None) -> EnrolResult:
    """Fit, score with and without, decide (see the module's doc)."""
    import time

    start = time.perf_counter()
    fit = fit_voice(parts, enrolment, settings, log)
    seconds = time.perf_counter() - start
    before = score_takes(parts, held_out)
    after = score_takes(adapted_parts(parts, fit), held_out)
    return EnrolResult(before, after, is_better(before, after), fit, round(seconds, 1))
