"""`liveface contact`: fit a student bundle's lip-contact head, choose its thresholds on
validation, and write the bundle with it (see `app.model.lip_contact`).

The head is fit on 20 ms frames of the training split: the data build's training clips and
the training prompts of recorded corpora (`liveface data recorded`), each heard once clean
and `augmented` times through the training augmentation (rooms, device rates, bands, noise,
gain). A frame's label comes from its clip's alignment: silence, other speech or p/b/m,
and the first `release` frames of speech after a p/b/m as its release (a class of its own,
so that the head learns where a closure ends).
Its input is what the student's audio encoder makes of the audio up to the frame's end,
warmed on silence as a stream starts, so the head hears in training exactly what it hears
live. The encoder stays as it is; the student animates as before, and the head edits its
lips.

The two thresholds are then chosen on the validation split (`app.eval.evaluate.eval_sets`:
held-out voices and languages, the recorded corpora's validation prompts and the unheard
speaker): the student animates those clips once, each pair of the grid edits its tracks
as the head would live, and the result is scored by the rule fixed before (the balanced
rate of recorded p/b/m closed and recorded vowels left open, over both recorded sets,
pooled), the better LVE breaking ties. The table of the grid is printed, the bundle
carries the pair that won.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from app.audio.contract import SAMPLES_PER_FRAME
from app.audio.features import LogMel
from app.audio.io import read_audio
from app.checkpoints import ModelParts, load_parts, save_bundle, streaming_animator
from app.data.dataset_files import timeline_from_dict
from app.data.dataset_manifest import load_manifest
from app.data.teacher import default_geometry
from app.data.timeline import Timeline, played_faster
from app.errors import LivefaceError
from app.eval.evaluate import EvalClip, eval_sets, score_tracks
from app.eval.probe import frame_labels
from app.inference import animate_audio
from app.model.animator import WARM_UP_FRAMES
from app.model.lip_contact import (
    BILABIAL,
    CLASSES,
    RELEASE,
    SILENCE,
    SPEECH,
    ContactHead,
    LipGeometry,
    apply_contact,
    contact_codes,
    sequence_rows,
)
from app.training.augment import AugmentConfig, augment, change_speed

CONTEXT = 4  # encoder frames the head reads: the newest and three before (80 ms)
HIDDEN = 128
RELEASE_FRAMES = 0  # frames of speech after a p/b/m trained as its release (0: none)
BATCH = 4096
CLOSE_GRID = (0.5, 0.6, 0.7, 0.85)
OPEN_GRID = (0.5, 0.6, 0.8, 1.0)  # 1.0: never part the lips
RULE_SETS = ("real_speech", "unheard_speaker")


def frame_classes(timeline: Timeline, frames: int, release: int = 0) -> np.ndarray:
    """(frames,) int64 class per 20 ms frame (`app.model.lip_contact.CLASSES`): p/b/m,
    other speech, else silence (also past the timeline's end); the probe's frame labels
    with its unlabelled frames as silence. With `release`, up to that many frames of other
    speech right after a p/b/m are `RELEASE` instead."""
    labels = frame_labels(timeline, frames)
    classes = np.full(frames, SILENCE, dtype=np.int64)
    classes[labels == 0] = SPEECH
    classes[labels == 1] = BILABIAL
    left = 0  # release frames still to mark after the last p/b/m frame
    for index, kind in enumerate(classes):
        if kind == BILABIAL:
            left = release
        elif kind == SPEECH and left:
            classes[index] = RELEASE
            left -= 1
        else:
            left = 0
    return classes


class EncoderFeatures:
    """What a student's audio encoder makes of a whole clip, as it does streaming: warmed
    on `WARM_UP_FRAMES` of silence first. (T, C) for the T frames `animate_clip` makes."""

    def __init__(self, parts: ModelParts):
        config = parts.config
        self.log_mel = LogMel(config.mel_mean, config.mel_std, config.mel_log_floor)
        self.encoder = parts.encoder.eval()

    def __call__(self, audio: np.ndarray) -> Tensor:
        frames = -(-audio.size // SAMPLES_PER_FRAME)  # a last part-frame padded, as streamed
        samples = np.zeros((WARM_UP_FRAMES + frames) * SAMPLES_PER_FRAME, np.float32)
        samples[WARM_UP_FRAMES * SAMPLES_PER_FRAME:][:audio.size] = audio
        with torch.inference_mode():
            features, _ = self.encoder(self.log_mel(torch.from_numpy(samples)[None]))
        return features[0, WARM_UP_FRAMES:].clone()


def heard_versions(audio: np.ndarray, timeline: Timeline, augmented: int,
                   speeds: tuple[float, float] | None, rng: np.random.Generator
                   ) -> list[tuple[np.ndarray, Timeline]]:
    """The clip clean, then `augmented` times through the training augmentation, each of
    those first played at a speed drawn from `speeds` (uniform in log; None: as recorded),
    its timeline scaled to match: other talkers' rates, pitches and vocal tracts."""
    versions = [(audio, timeline)]
    for _ in range(augmented):
        heard, timed = audio, timeline
        if speeds is not None:
            factor = float(np.exp(rng.uniform(*np.log(speeds))))
            heard = change_speed(audio, factor, int(np.ceil(audio.size / factor)))
            timed = played_faster(timeline, factor)
        versions.append((augment(heard, AugmentConfig(), rng), timed))
    return versions


def training_frames(dirs: Sequence[Path], featurise: EncoderFeatures, augmented: int,
                    seed: int = 0, log: Callable[[str], None] = print,
                    speeds: tuple[float, float] | None = None, release: int = 0
                    ) -> tuple[Tensor, Tensor]:
    """Rows (N, CONTEXT * C) and classes (N,) of every train-split clip of `dirs`
    (`frame_classes` with `release`)."""
    rng = np.random.default_rng(seed)
    rows, classes = [], []
    for data_dir in dirs:
        manifest = load_manifest(data_dir)
        entries = [e for e in manifest.clips if e.split == "train"]
        for entry in entries:
            audio = read_audio(manifest.path(entry.audio))
            timeline = timeline_from_dict(json.loads(manifest.path(entry.timeline).read_text()))
            for heard, timed in heard_versions(audio, timeline, augmented, speeds, rng):
                features = featurise(heard)
                rows.append(sequence_rows(features, CONTEXT))
                classes.append(torch.from_numpy(frame_classes(timed, len(features),
                                                              release)))
        log(f"{data_dir}: {len(entries)} training clips")
    if not rows:
        raise LivefaceError("no training clips: give data sets with a train split.")
    return torch.cat(rows), torch.cat(classes)


def fit_head(rows: Tensor, classes: Tensor, lips: LipGeometry, steps: int,
             seed: int = 0, release: bool = False) -> ContactHead:
    """A head fit by Adam on random batches, the classes (three, or four with `release`)
    weighted equally."""
    torch.manual_seed(seed)
    head = ContactHead(rows.shape[1] // CONTEXT, CONTEXT, HIDDEN, lips, release)
    head.mean.copy_(rows.mean(0))
    head.std.copy_(rows.std(0) + 1e-4)
    kinds = len(CLASSES) + int(release)
    counts = torch.bincount(classes, minlength=kinds).float()
    if (counts == 0).any() or len(counts) > kinds:
        raise LivefaceError("the training frames lack a class (silence, speech, p/b/m or "
                            "release); give more clips.")
    weight = counts.sum() / (kinds * counts)
    optimiser = torch.optim.AdamW(head.net.parameters(), lr=1e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    head.train()
    for _ in range(steps):
        batch = torch.randint(0, len(rows), (min(BATCH, len(rows)),), generator=generator)
        loss = nn.functional.nll_loss(head.trained_log_probs(rows[batch]), classes[batch],
                                      weight=weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return head.eval()


def rule(results: dict[str, dict]) -> float:
    """The balanced rate of p/b/m closed and vowels left open over the recorded sets."""
    sets = [results[name] for name in RULE_SETS if name in results]
    closed = sum(s["bilabial_closed"] for s in sets) / max(1, sum(s["bilabial_phones"]
                                                                  for s in sets))
    shut = sum(s["vowels_closed"] for s in sets) / max(1, sum(s["vowels"] for s in sets))
    return (closed + 1.0 - shut) / 2.0


def choose_thresholds(parts: ModelParts, head: ContactHead, sets: dict[str, list[EvalClip]],
                      log: Callable[[str], None] = print) -> tuple[tuple[float, float], list]:
    """Score the grid on the validation sets; (close, open) that won and every row (the
    first: the student without the head).

    The head edits the student's output and never its state, so each clip is animated once
    and its head's answers computed once (as `Animator.touch_lips` makes them frame by
    frame); each pair of thresholds then only edits the tracks."""
    geometry = default_geometry()
    animator = streaming_animator(replace(parts, contact=None))
    featurise = EncoderFeatures(parts)
    made = {}
    for name, clips in sets.items():
        made[name] = []
        for clip in clips:
            rig = torch.from_numpy(animate_audio(animator, clip.audio).rig)
            with torch.inference_mode():
                log_probs = head(sequence_rows(featurise(clip.audio), CONTEXT))
            made[name].append((rig, log_probs))
    rows = []
    for close, open_ in [(None, None)] + [(c, o) for c in CLOSE_GRID for o in OPEN_GRID]:
        results = {}
        for name, clips in sets.items():
            tracks = [rig if close is None else
                      apply_contact(rig, contact_codes(log_probs, close, open_), head.lips)
                      for rig, log_probs in made[name]]
            results[name] = score_tracks([t.numpy() for t in tracks], clips, geometry)
        lve = float(np.mean([r["lve_mm"] for r in results.values()]))
        rows.append({"close": close, "open": open_, "rule": round(rule(results), 4),
                     "mean_lve_mm": round(lve, 3), "sets": results})
        log(f"close {close} open {open_}: rule {rule(results):.3f}, mean LVE {lve:.2f} mm")
    best = max(rows[1:], key=lambda r: (r["rule"], -r["mean_lve_mm"]))
    return (best["close"], best["open"]), rows


def fit_contact(student: Path, data: Path, recorded: Sequence[Path], validation_recorded:
                Sequence[Path], out: Path, steps: int, augmented: int, max_clips: int,
                log: Callable[[str], None] = print,
                speeds: tuple[float, float] | None = None, release: int = RELEASE_FRAMES
                ) -> dict:
    """The whole command: fit, choose, write. Returns the report it also writes beside."""
    parts = load_parts(student)
    if parts.config.lookahead_frames:
        raise LivefaceError("a contact head reads the newest audio; give a student without "
                            "look-ahead.")
    featurise = EncoderFeatures(parts)
    rows, classes = training_frames([data, *recorded], featurise, augmented, log=log,
                                    speeds=speeds, release=release)
    log(f"fitting the contact head on {len(rows)} frames ({steps} steps)")
    head = fit_head(rows, classes, LipGeometry.from_face(default_geometry()), steps,
                    release=release > 0)
    sets = eval_sets(data, "validation", max_clips, validation_recorded)
    (close, open_), grid = choose_thresholds(parts, head, sets, log)
    config = replace(parts.config, contact_context=CONTEXT, contact_hidden=HIDDEN,
                     contact_close=close, contact_open=open_, contact_release=release)
    save_bundle(out, parts.encoder, parts.denoiser, parts.codec, config, head)
    report = {"student": str(student), "data": str(data), "recorded": [str(p) for p in recorded],
              "frames": len(rows), "steps": steps, "augmented": augmented,
              "speed_range": list(speeds) if speeds else None, "release_frames": release,
              "chosen": {"close": close, "open": open_}, "grid": grid}
    out.with_suffix(".contact.json").write_text(json.dumps(report, indent=1))
    log(f"wrote {out} (close above {close}, open above {open_})")
    return report
