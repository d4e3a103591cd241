"""Training data: a built data set (see `app.data.dataset`) as random windows of clips.

A window is `window_frames` animation frames of one clip: its rig track, its emotion and
intensity, the gaze the rig's gaze columns hold, and the audio those frames cover plus
`context_frames` of audio before them (zeros before the clip starts, as in a live stream), so
the causal audio encoder has warmed up by the window's first frame, and `lookahead_frames` of
audio after them (zeros after the clip ends) for a model that hears past each frame.
Augmentation (room, device, band, noise, gain) is drawn afresh for every window and touches
the audio only; speed perturbation, when the augmentation config asks for it, plays a
window's audio faster or slower and resamples its face track to match (frame i stays the face
of audio frame i).

Sampling is a pure function of (seed, step, rank): the global batch of step s is a slice of
an epoch-wide permutation of window slots, each rank takes its own disjoint share (what a
`DistributedSampler` does), and each window's start and augmentation come from a generator
seeded by (seed, epoch, slot). A resumed run therefore sees exactly the batches an
uninterrupted one would.
"""

import functools
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from app.audio.contract import SAMPLES_PER_FRAME
from app.audio.io import read_audio
from app.avatar.emotions import EMOTIONS, emotion_flush
from app.avatar.rig import GAZE_SLICE, RIG_SIZE
from app.avatar.texture_controls import texture_controls_from_rig
from app.errors import LivefaceError
from app.training.augment import AugmentConfig, augment, change_speed

MANIFEST_FORMAT = "liveface-dataset/1"


@dataclass(frozen=True)
class Clip:
    id: str
    audio: np.ndarray  # (frames * 320,) float32, zero-padded to whole frames
    rig: np.ndarray  # (frames, 57) float32
    emotion: int  # index into EMOTIONS
    intensity: float
    split: str
    heldout: str | None
    language: str
    engine: str = ""

    @property
    def frames(self) -> int:
        return self.rig.shape[0]


def read_manifest(data_dir: Path) -> list[dict]:
    """The clip entries of DIR/manifest.json; a clear error when it is missing or foreign."""
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise LivefaceError(f"{data_dir} has no manifest.json; build a data set with "
                            f"`liveface data build --out {data_dir} ...` first.")
    try:
        manifest = json.loads(path.read_text())
        clips = manifest["clips"]
    except (ValueError, KeyError) as err:
        raise LivefaceError(f"{path} is not a data set manifest ({err}).") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise LivefaceError(f"{path} has format {manifest.get('format')!r}; this version reads "
                            f"{MANIFEST_FORMAT!r}. Rebuild the data set.")
    return clips


def load_clip(data_dir: Path, entry: dict) -> Clip:
    rig = np.load(Path(data_dir) / entry["rig"], allow_pickle=False).astype(np.float32)
    if rig.ndim != 2 or rig.shape[1] != RIG_SIZE:
        raise LivefaceError(f"clip {entry['id']}: rig track has shape {rig.shape}, "
                            f"expected (frames, {RIG_SIZE}).")
    audio = read_audio(Path(data_dir) / entry["audio"])
    samples = rig.shape[0] * SAMPLES_PER_FRAME
    audio = np.pad(audio[:samples], (0, max(0, samples - audio.size))).astype(np.float32)
    return Clip(entry["id"], audio, rig, EMOTIONS.index(entry["emotion"]),
                float(entry["intensity"]), entry["split"], entry.get("heldout"),
                entry.get("language", ""), entry.get("engine", ""))


def load_split(data_dir: Path, split: str = "train") -> list[Clip]:
    clips = [load_clip(data_dir, e) for e in read_manifest(data_dir) if e["split"] == split]
    if not clips:
        raise LivefaceError(f"{data_dir} has no clips in the {split!r} split.")
    return clips


def texture_targets(clip: Clip) -> np.ndarray:
    """(frames, 12): wrinkle then flush per region, what the codec's texture outputs learn."""
    flush = emotion_flush(EMOTIONS[clip.emotion], clip.intensity)
    rows = []
    for frame in clip.rig:
        controls = texture_controls_from_rig(frame, flush)
        rows.append(np.concatenate([controls.wrinkle, controls.flush]))
    return np.stack(rows).astype(np.float32)


def fit_mel_stats(clips: list[Clip], max_seconds: float = 600.0) -> tuple[float, float]:
    """Global mean and std of the raw log-mel over (up to `max_seconds` of) training audio."""
    from app.audio.features import LogMel

    log_mel = LogMel(0.0, 1.0, 1e-8)
    values, seconds = [], 0.0
    with torch.no_grad():
        for clip in clips:
            values.append(log_mel(torch.from_numpy(clip.audio)[None]).flatten())
            seconds += clip.audio.size / 16_000
            if seconds >= max_seconds:
                break
    flat = torch.cat(values).double()
    return float(flat.mean()), float(flat.std())


def engine_repeats(clips: list[Clip], balance: float) -> list[int]:
    """How many times each clip's windows are offered: engines with a small share of the
    clips are repeated by (largest share / their share) ** balance, rounded (0 = no
    balancing, 1 = every engine as often as the largest). Most clips come from one engine
    (espeak-ng); the few from voices closer to recorded speech then count for more."""
    counts = Counter(clip.engine for clip in clips)
    largest = max(counts.values())
    return [max(1, round((largest / counts[c.engine]) ** balance)) for c in clips]


def interpolate_frames(track: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Rows of `track` at fractional frame positions, linearly interpolated (clamped to the
    track's ends); whole positions give the rows themselves."""
    positions = np.clip(positions, 0.0, track.shape[0] - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, track.shape[0] - 1)
    weight = (positions - low)[:, None]
    return ((1.0 - weight) * track[low] + weight * track[high]).astype(np.float32)


class WindowDataset(torch.utils.data.Dataset):
    """Window slots: each clip holds ceil(frames / window) of them (times its engine's
    repeat, see `engine_repeats`), so long clips are seen proportionally more;
    `window(slot, epoch)` draws that slot's start and augmentation."""

    def __init__(self, clips: list[Clip], window_frames: int, context_frames: int,
                 augment_config: AugmentConfig | None, seed: int, engine_balance: float = 0.0,
                 lookahead_frames: int = 0):
        usable = [c for c in clips if c.frames >= window_frames]
        if not usable:
            raise LivefaceError(f"no training clip is as long as a window ({window_frames} "
                                "frames); use a preset with shorter windows or longer clips.")
        self.clips, self.window_frames, self.context_frames = usable, window_frames, context_frames
        self.augment_config, self.seed = augment_config, seed
        self.lookahead_frames = lookahead_frames
        repeats = engine_repeats(usable, engine_balance)
        self.slots = [i for i, (c, r) in enumerate(zip(usable, repeats))
                      for _ in range(r * -(-c.frames // window_frames))]

    def __len__(self) -> int:
        return len(self.slots)

    def window(self, slot: int, epoch: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([self.seed, epoch, slot])
        clip = self.clips[self.slots[slot]]
        frames, context, ahead = self.window_frames, self.context_frames, self.lookahead_frames
        speed = 1.0
        if self.augment_config is not None:
            speed = min(self.augment_config.draw_speed(rng), clip.frames / frames)
        if speed == 1.0:
            start = float(rng.integers(clip.frames - frames + 1))
        else:
            start = rng.uniform(0.0, clip.frames - frames * speed)
        # the audio of the window, its context and look-ahead, `speed` times as long in the
        # source
        first = round((start - context * speed) * SAMPLES_PER_FRAME)
        length = round((context + frames + ahead) * speed * SAMPLES_PER_FRAME)
        audio = clip.audio[max(0, first):first + length]
        audio = np.pad(audio, (max(0, -first), 0))  # silence before the clip starts
        audio = np.pad(audio, (0, length - audio.size))  # and after it ends
        if speed != 1.0:
            audio = change_speed(audio, speed, (context + frames + ahead) * SAMPLES_PER_FRAME)
        if self.augment_config is not None:
            audio = augment(audio, self.augment_config, rng)
        # frame i's centre is output sample (context + i + 0.5) * 320, source time * speed
        positions = first / SAMPLES_PER_FRAME + (context + np.arange(frames) + 0.5) * speed - 0.5
        rig = interpolate_frames(clip.rig, positions)
        return {"audio": torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
                "rig": torch.from_numpy(rig),
                "gaze": torch.from_numpy(np.ascontiguousarray(rig[:, GAZE_SLICE])),
                "emotion": torch.tensor(clip.emotion),
                "intensity": torch.tensor(clip.intensity, dtype=torch.float32)}

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Tensor]:
        slot, epoch = item
        return self.window(slot, epoch)


def batch_slots(num_slots: int, batch: int, step: int, rank: int, world: int, seed: int
                ) -> list[tuple[int, int]]:
    """(slot, epoch) pairs of this rank's share of global batch `step`: consecutive global
    batches walk through one permutation of the slots per epoch, ranks take disjoint parts."""
    per_step = batch * world
    first = step * per_step + rank * batch
    pairs = []
    for position in range(first, first + batch):
        epoch, index = divmod(position, num_slots)
        pairs.append((int(_epoch_order(num_slots, seed, epoch)[index]), epoch))
    return pairs


@functools.lru_cache(maxsize=4)
def _epoch_order(num_slots: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x5107]).permutation(num_slots)


def collate(windows: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {key: torch.stack([w[key] for w in windows]) for key in windows[0]}


def load_batch(dataset: WindowDataset, batch: int, step: int, rank: int = 0, world: int = 1
               ) -> dict[str, Tensor]:
    """This rank's batch of step `step`: audio (B, (context + W + lookahead) 320), rig (B, W, 57),
    gaze (B, W, 2), emotion (B,), intensity (B,)."""
    pairs = batch_slots(len(dataset), batch, step, rank, world, dataset.seed)
    return collate([dataset[pair] for pair in pairs])
