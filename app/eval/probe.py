"""How well can p/b/m be told from other speech by what a causal model hears? A probe.

A probe is a small classifier (one hidden layer of 64 units) fit on frames of the training
split: each 20 ms frame is described by features of the audio up to its end (plus
`lookahead_frames` frames, to see what waiting would buy) and labelled 1 inside a p/b/m phone,
0 inside any other speech phone; silences are left out. Its ROC AUC on the held-out voices and
on recorded speech says how far the closures the metrics count can be heard at all by a
model trained on these voices: 1 tells every p/b/m frame from every other speech frame, 0.5 is
chance. The feature sets (front-end candidates):
- `log_mel`: the raw log-mel of the last 80 ms (eight 10 ms frames, and the look-ahead after
  them), what the front end gives;
- `student_encoder`: the student bundle's audio encoder output for the frame and the one before;
- `sphinx_gmm`: pocketsphinx's en-us acoustic model (trained on recorded US English) scored
  causally (`app.audio.sphinx_gmm`): its 42 phone log-posteriors of the last 80 ms;
- `log_mel+sphinx_gmm`: both side by side.
The training clips are augmented as in training (room, device rate, band, noise, gain), so
the probe sees the same variety the models do.

`real_speech_within` fits the probe on all recordings but one and scores the one left out,
for each in turn: how separable p/b/m is when the probe has heard this kind of recording
(five of the ten share one reader), against `real_speech`, where it only heard synthetic
voices. The gap between the two is the part of the problem that more natural training speech
could close; what is left below 1 is not heard in this front end at all.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor, nn

from app.audio.contract import FRAME_RATE_HZ, SAMPLES_PER_FRAME
from app.audio.features import LogMel
from app.audio.io import read_audio
from app.data.dataset_files import timeline_from_dict
from app.data.dataset_manifest import load_manifest
from app.data.timeline import SILENCE, Timeline
from app.data.visemes import is_bilabial
from app.eval.evaluate import eval_sets
from app.model.audio_encoder import AudioEncoder
from app.model.config import ModelConfig
from app.training.augment import AugmentConfig, augment

MEL_CONTEXT = 8  # mel frames (10 ms each) of the log-mel probe: the last 80 ms
HIDDEN_UNITS = 64
FIT_STEPS = 300
IGNORED = -1  # label of silent frames: neither class


@dataclass(frozen=True)
class ProbeClip:
    audio: np.ndarray  # float32, 16 kHz
    timeline: Timeline


def frame_labels(timeline: Timeline, frames: int) -> np.ndarray:
    """(frames,) int8: 1 in p/b/m phones, 0 in other speech, `IGNORED` in silence and after."""
    labels = np.full(frames, IGNORED, dtype=np.int8)
    for phone in timeline.phones:
        if phone.phone == SILENCE:
            continue
        first = int(phone.start_s * FRAME_RATE_HZ)
        last = max(first + 1, int(phone.end_s * FRAME_RATE_HZ))
        labels[first:last] = 1 if is_bilabial(phone.phone) else 0
    return labels


def mel_rows(log_mel: Tensor, lookahead_frames: int = 0) -> Tensor:
    """(2T, C) 10 ms frames -> (T, (8 + 2 lookahead) C): row t holds the eight frames that end
    with animation frame t, and the 2 lookahead frames after them (zeros before the clip and
    past its end)."""
    frames = log_mel.shape[0] // 2
    width = MEL_CONTEXT + 2 * lookahead_frames
    end = 2 * (np.arange(frames) + 1 + lookahead_frames)  # one past the last frame
    padded = torch.cat([log_mel.new_zeros(width, log_mel.shape[1]), log_mel,
                        log_mel.new_zeros(2 * lookahead_frames, log_mel.shape[1])])
    return torch.stack([padded[e:e + width].flatten() for e in end])


def encoder_rows(features: Tensor, lookahead_frames: int = 0) -> Tensor:
    """(T, C) encoder features -> (T, (2 + lookahead) C): frames t + lookahead, ..., t, t - 1
    (newest first; zeros before the clip and past its end)."""
    frames = features.shape[0]
    padded = torch.cat([features.new_zeros(1, features.shape[1]), features,
                        features.new_zeros(lookahead_frames, features.shape[1])])
    # padded[i + 1] is frame i
    return torch.cat([padded[1 + k:1 + k + frames] for k in range(lookahead_frames, -2, -1)], 1)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random
    negative, ties counting half (the Mann-Whitney U statistic over n+ n-)."""
    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if not positives or not negatives:
        raise ValueError("the AUC needs frames of both classes")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def fit_probe(features: Tensor, labels: np.ndarray, seed: int = 0
              ) -> Callable[[Tensor], np.ndarray]:
    """A one-hidden-layer classifier fit with the classes weighted equally (full-batch Adam);
    returns its scoring function."""
    target = torch.from_numpy(labels.astype(np.float32))
    mean, std = features.mean(0), features.std(0) + 1e-6
    generator = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(features.shape[1], HIDDEN_UNITS), nn.GELU(),
                        nn.Linear(HIDDEN_UNITS, 1))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator)
                            / np.sqrt(parameter.shape[-1]))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    balance = torch.tensor(float((target == 0).sum() / target.sum().clamp_min(1.0)))
    inputs = (features - mean) / std
    for _ in range(FIT_STEPS):
        optimiser.zero_grad()
        logits = net(inputs)[:, 0]
        nn.functional.binary_cross_entropy_with_logits(logits, target,
                                                        pos_weight=balance).backward()
        optimiser.step()

    def score(rows: Tensor) -> np.ndarray:
        with torch.no_grad():
            return net((rows - mean) / std)[:, 0].numpy()

    return score


class Featuriser:
    """Probe features of a clip: the raw log-mel context, a bundle encoder's output, or the
    pocketsphinx GMM's phone scores (with `sphinx`; beside the log-mel with `sphinx` and
    no encoder and `with_mel`)."""

    def __init__(self, config: ModelConfig, encoder: AudioEncoder | None,
                 lookahead_frames: int = 0, sphinx: bool = False, with_mel: bool = True):
        self.log_mel = LogMel(config.mel_mean, config.mel_std, config.mel_log_floor)
        self.encoder, self.lookahead_frames = encoder, lookahead_frames
        self.sphinx, self.with_mel = sphinx, with_mel

    def __call__(self, audio: np.ndarray) -> Tensor:
        samples = audio.size // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME
        with torch.inference_mode():
            mel = self.log_mel(torch.from_numpy(np.ascontiguousarray(audio[:samples]))[None])
            if self.encoder is not None:
                return encoder_rows(self.encoder(mel)[0][0], self.lookahead_frames)
            parts = [mel_rows(mel[0], self.lookahead_frames)] if self.with_mel else []
            if self.sphinx:
                from app.audio.sphinx_gmm import sphinx_phone_scores

                scores = torch.from_numpy(sphinx_phone_scores(audio[:samples]))
                parts.append(mel_rows(scores, self.lookahead_frames))
            return torch.cat(parts, dim=1)


def clip_frames(clip: ProbeClip, featurise: Featuriser) -> tuple[Tensor, np.ndarray]:
    """The clip's labelled (non-silent) frames: features and labels."""
    features = featurise(clip.audio)
    labels = frame_labels(clip.timeline, features.shape[0])
    keep = labels != IGNORED
    return features[torch.from_numpy(keep)], labels[keep]


def pooled(per_clip: list[tuple[Tensor, np.ndarray]]) -> tuple[Tensor, np.ndarray]:
    """The frames of several clips as one set."""
    return torch.cat([f for f, _ in per_clip]), np.concatenate([l for _, l in per_clip])


def training_clips(data_dir: Path, count: int, seed: int = 0) -> list[ProbeClip]:
    """`count` training clips, augmented once each: every clip of the rarer engines (closer
    to recorded speech, and few) first, then espeak-ng's drawn at random."""
    manifest = load_manifest(data_dir)
    entries = [e for e in manifest.clips if e.split == "train"]
    rng = np.random.default_rng(seed)
    rare = [e for e in entries if e.engine != "espeak-ng"]
    common = [e for e in entries if e.engine == "espeak-ng"]
    order = rare + [common[i] for i in rng.permutation(len(common))]
    config = AugmentConfig()
    return [ProbeClip(augment(read_audio(manifest.path(e.audio)), config, rng),
                      timeline_from_dict(json.loads(manifest.path(e.timeline).read_text())))
            for e in order[:count]]


def probe_sets(data_dir: Path, max_clips: int, split: str = "validation",
               recorded_dirs: Sequence[Path] = ()) -> dict[str, list[ProbeClip]]:
    """The evaluation's held-out voices and recorded speech of one split (and, in
    validation, the unheard recorded speaker), as probe clips (see
    `app.eval.evaluate.eval_sets`)."""
    sets = eval_sets(data_dir, split, max_clips, recorded_dirs)
    return {name: [ProbeClip(c.audio, c.timeline) for c in sets[name]]
            for name in ("heldout_voices", "real_speech", "unheard_speaker") if name in sets}


def probe_aucs(train: list[ProbeClip], sets: dict[str, list[ProbeClip]],
               featurise: Featuriser) -> dict[str, float | None]:
    """AUC of a probe fit on `train` on each set (and on `train` itself), and the
    leave-one-recording-out AUC within the recorded set."""
    features, labels = pooled([clip_frames(c, featurise) for c in train])
    score = fit_probe(features, labels)
    results = {"training": _rounded_auc(score(features), labels)}
    per_set = {name: [clip_frames(c, featurise) for c in clips] for name, clips in sets.items()}
    for name, per_clip in per_set.items():
        set_features, set_labels = pooled(per_clip)
        results[name] = _rounded_auc(score(set_features), set_labels)
    results["real_speech_within"] = _rounded_auc(*_left_out_scores(per_set["real_speech"]))
    return results


def _rounded_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """The AUC to three places, or None where the frames hold only one class."""
    if labels.size == 0 or labels.all() or not labels.any():
        return None
    return round(roc_auc(scores, labels), 3)


def _left_out_scores(per_clip: list[tuple[Tensor, np.ndarray]]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Each clip's frames scored by a probe fit on the other clips."""
    scores = []
    for i, (features, _) in enumerate(per_clip):
        score = fit_probe(*pooled(per_clip[:i] + per_clip[i + 1:]))
        scores.append(score(features))
    return np.concatenate(scores), np.concatenate([labels for _, labels in per_clip])
