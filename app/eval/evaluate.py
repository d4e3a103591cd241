"""`liveface eval`: the student, the teacher and the offline baseline on speech none of
them trained on, scored with `app.eval.metrics` against the procedural teacher, beside
the baselines of `app.eval.baselines` and the data's mean face.

Two splits, of three sets each (validation has a fourth). "validation" is what every
choice of recipe, weight or checkpoint is made on; "test" is scored once, for the weights
that ship:
- heldout_voices: clips of training languages spoken by voices kept out of training (and
  whose speaker no other engine's training voice shares): the data build's validation
  voices, or its test voices;
- heldout_languages: clips of languages kept out of training altogether; their voices are
  dealt alternately (in name order) to validation and test, so the two share no voice;
- real_speech: recorded English, force-aligned, with the teacher's animation of that
  alignment as the reference. Validation: the recorded corpus' validation prompts (new
  sentences of a speaker heard in training, `app.data.recorded`); test: Debian's
  pocketsphinx-testdata, whose speakers no training data holds;
- unheard_speaker (validation only): a recorded speaker no model trained on (Asterisk's
  Russian prompts), aligned through espeak-ng's pronunciations: what choosing on
  validation knows of voices it never heard.
Each model gets the same audio and a fixed noise seed. A set's figure is the mean over its
clips (closure rates over the clips that have bilabials or long silences), and the closure
counts pooled over the clips: the headline, since a rate of a few phones per clip moves in
big steps.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLES_PER_FRAME
from app.audio.io import read_audio
from app.avatar.landmarks import FaceGeometry
from app.checkpoints import (
    OFFLINE_FILE,
    STUDENT_FILE,
    TEACHER_FILE,
    load_animator,
    load_parts,
)
from app.data.dataset_files import timeline_from_dict
from app.data.dataset_manifest import load_manifest
from app.data.realspeech import real_speech_set
from app.data.speech.registry import speaker_of
from app.data.timeline import Timeline
from app.errors import LivefaceError
from app.eval.metrics import COUNTS, evaluate_clip
from app.inference import animate_audio, animate_offline

MODELS = ("student", "teacher", "offline")
BASELINE_NAMES = ("still_face", "mean_face", "loudness", "phone_recogniser")
SPLITS = ("validation", "test")
MIN_RECORDED_S = 2.0  # recorded validation prompts shorter than this are single words
SETS = ("heldout_voices", "heldout_languages", "real_speech")
METRICS = ("lve_mm", "mve_mm", "fdd", "bilabial_closure", "silence_closure", "lag_ms", "jitter",
           "vowel_closure")
MODEL_FILES = {"student": STUDENT_FILE, "teacher": TEACHER_FILE, "offline": OFFLINE_FILE}

Predictor = Callable[[np.ndarray], np.ndarray]  # 16 kHz audio -> (T, 57) rig track


@dataclass(frozen=True)
class EvalClip:
    id: str
    audio: np.ndarray
    timeline: Timeline
    reference: np.ndarray  # (T, 57) the teacher's track


def streaming_predictor(path: Path, steps: int | None = None) -> Predictor:
    """The student (one step) or the teacher (its K steps) run frame by frame."""
    animator, config = load_animator(path)
    k = steps or config.sampling_steps
    return lambda audio: animate_audio(animator, audio, steps=k).rig


def offline_predictor(path: Path) -> Predictor:
    """The bidirectional baseline: K steps over the whole clip at once."""
    parts = load_parts(path)
    return lambda audio: animate_offline(parts, audio).rig


def predictors(models_dir: Path, data_dir: Path | None = None) -> dict[str, Predictor]:
    """The three models, then the baselines (the mean face when the data is given)."""
    from app.eval.baselines import BASELINES

    models = {"student": streaming_predictor(models_dir / MODEL_FILES["student"], steps=1),
              "teacher": streaming_predictor(models_dir / MODEL_FILES["teacher"]),
              "offline": offline_predictor(models_dir / MODEL_FILES["offline"])}
    if data_dir is not None:
        models["mean_face"] = mean_face_predictor(data_dir)
    return {**models, **BASELINES}


def mean_face_predictor(data_dir: Path) -> Predictor:
    """A reference, not a model: the training split's average face, held still whatever the
    audio. LVE rewards the average, so a model must beat this to show it learnt anything
    from the audio; its closure rates are zero (the average mouth is open)."""
    manifest = load_manifest(data_dir)
    rigs = [np.load(manifest.path(e.rig)) for e in manifest.clips if e.split == "train"]
    mean = np.concatenate(rigs).mean(axis=0).astype(np.float32)
    return lambda audio: np.repeat(mean[None], -(-len(audio) // SAMPLES_PER_FRAME), axis=0)


def heldout_clips(data_dir: Path, kind: str, max_clips: int, split: str = "test"
                  ) -> list[EvalClip]:
    """The first `max_clips` clips of one held-out kind in one split, in manifest order,
    leaving out voices whose speaker also trains (another engine's voice of the same
    recordings, which data sets built before splits kept speakers together may hold)."""
    manifest = load_manifest(data_dir)
    trained = {speaker_of(e.engine, e.voice) for e in manifest.clips if e.split == "train"}
    entries = [e for e in manifest.clips if _in_split(e, kind, split, manifest.clips)
               and speaker_of(e.engine, e.voice) not in trained][:max_clips]
    return [_clip(manifest, e) for e in entries]


def _in_split(entry, kind: str, split: str, entries) -> bool:
    if kind == "heldout_voices":  # the build's validation voices are held out too
        return entry.split == split and (split == "validation" or entry.heldout == kind)
    if entry.heldout != kind:
        return False
    voices = sorted({e.voice for e in entries if e.heldout == kind})
    return SPLITS[voices.index(entry.voice) % 2] == split


def _clip(manifest, entry) -> EvalClip:
    return EvalClip(entry.id, read_audio(manifest.path(entry.audio)),
                    timeline_from_dict(json.loads(manifest.path(entry.timeline).read_text())),
                    np.load(manifest.path(entry.rig)))


def real_speech_clips(max_clips: int) -> list[EvalClip]:
    """The recorded test set (pocketsphinx-testdata), aligned and animated."""
    return [EvalClip(clip.id, aligned.audio, aligned.timeline, aligned.rig)
            for clip, aligned in real_speech_set()[:max_clips]]


def recorded_clips(recorded_dir: Path, max_clips: int) -> list[EvalClip]:
    """The recorded corpus' validation prompts of at least `MIN_RECORDED_S` (sentences, not
    single words), in name order."""
    manifest = load_manifest(recorded_dir)
    entries = [e for e in manifest.clips
               if e.split == "validation" and e.duration_s >= MIN_RECORDED_S][:max_clips]
    return [_clip(manifest, e) for e in entries]


def recorded_set_name(recorded_dir: Path) -> str:
    """'unheard_speaker' for a corpus no model trains on, else 'real_speech'."""
    from app.data.recorded import CORPORA

    corpus = CORPORA.get(load_manifest(recorded_dir).build.get("recorded", ""))
    unheard = corpus is not None and corpus.split == "validation"
    return "unheard_speaker" if unheard else "real_speech"


def eval_sets(data_dir: Path, split: str, max_clips: int,
              recorded_dirs: Sequence[Path] = ()) -> dict[str, list[EvalClip]]:
    """The sets of one split (see the module's docstring)."""
    sets = {"heldout_voices": heldout_clips(data_dir, "heldout_voices", max_clips, split),
            "heldout_languages": heldout_clips(data_dir, "heldout_languages", max_clips, split)}
    if split != "validation":
        return sets | {"real_speech": real_speech_clips(max_clips)}
    for recorded_dir in recorded_dirs:
        name = recorded_set_name(recorded_dir)
        sets[name] = sets.get(name, []) + recorded_clips(recorded_dir, max_clips)
    if "real_speech" not in sets:
        raise LivefaceError("the validation split needs the recorded corpus "
                            "(`liveface data recorded`).")
    return sets


def score(predict: Predictor, clips: list[EvalClip], geometry: FaceGeometry) -> dict[str, float]:
    """Mean of each metric over the clips (NaN-free: clips a rate does not apply to skip it),
    and the closure counts summed over them (a rate of a few phones moves in big steps)."""
    return score_tracks([predict(c.audio) for c in clips], clips, geometry)


def score_tracks(tracks: list[np.ndarray], clips: list[EvalClip], geometry: FaceGeometry
                 ) -> dict[str, float]:
    """`score` of tracks already made, one per clip."""
    rows = [evaluate_clip(track, c.reference, c.timeline, geometry)
            for track, c in zip(tracks, clips, strict=True)]
    return {**{m: _mean([r[m] for r in rows]) for m in METRICS},
            **{c: int(sum(r[c] for r in rows)) for c in COUNTS}}


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(finite)), 4) if finite else None


def evaluate(models: dict[str, Predictor], sets: dict[str, list[EvalClip]],
             geometry: FaceGeometry) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {set: {metric: value}}}"""
    return {name: {set_name: score(predict, clips, geometry) for set_name, clips in sets.items()}
            for name, predict in models.items()}
