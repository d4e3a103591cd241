"""Fixed per-dimension ranges for the latent on the wire, measured from the shipped student.

The face message (app/call/wire.py, version 2) sends each of the codec's 32 latent values
in LATENT_BITS bits, uniformly between a fixed low and high per dimension. Both ends must
use the same ranges, so they are data shipped beside this file (`latent_range.json`),
made by `python -m app.call.latent_range`: the shipped student streams the repository's
speech (assets/audio/*.wav) and a second of silence, once for every emotion at full
intensity and once neutral; each dimension's range is the smallest and largest value seen,
widened by MARGIN of its span on either side, so a voice the clips did not cover still
fits. Values beyond the range are clipped.
"""

import json
import sys
from pathlib import Path

import numpy as np

LATENT_BITS = 6
MARGIN = 0.25  # of each dimension's measured span, added on either side
RANGE_FILE = Path(__file__).with_name("latent_range.json")


def load_ranges(path: Path = RANGE_FILE) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (LATENT_SIZE,) float32."""
    data = json.loads(path.read_text())
    return np.asarray(data["low"], np.float32), np.asarray(data["high"], np.float32)


def student_latents(model: Path, audio_files: list[Path], emotions: int | None = None
                    ) -> np.ndarray:
    """(N, LATENT_SIZE): the latents the streaming student sends for every clip (and a
    second of silence), neutral and then each other emotion at full intensity (the first
    `emotions` of these; None: all), block by block as in a call."""
    import torch

    from app.audio.contract import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
    from app.audio.io import read_audio
    from app.avatar.emotions import EMOTIONS
    from app.live.factory import make_animator

    clips = [read_audio(path) for path in audio_files] + [np.zeros(SAMPLE_RATE_HZ, np.float32)]
    latents = []
    moods = [(0, 0.0)] + [(e, 1.0) for e in range(1, len(EMOTIONS))]
    for emotion, intensity in moods[:emotions]:
        animator, _ = make_animator(model, False, device="cpu")
        for clip in clips:
            for start in range(0, len(clip) - SAMPLES_PER_FRAME + 1, SAMPLES_PER_FRAME):
                block = torch.from_numpy(clip[start:start + SAMPLES_PER_FRAME].copy())
                frame = animator.push(block, emotion=emotion, intensity=intensity)
                latents.append(np.asarray(frame.latent, np.float32).reshape(-1))
    return np.stack(latents)


def ranges_of(latents: np.ndarray, margin: float = MARGIN) -> tuple[np.ndarray, np.ndarray]:
    low, high = latents.min(axis=0), latents.max(axis=0)
    span = np.maximum(high - low, 1e-3)
    return low - margin * span, high + margin * span


def main() -> None:
    from app.checkpoints import STUDENT_FILE
    from app.resources import asset_path

    audio_files = sorted(asset_path("audio").glob("*.wav"))
    latents = student_latents(asset_path("models", STUDENT_FILE), audio_files)
    low, high = ranges_of(latents)
    RANGE_FILE.write_text(json.dumps({
        "made_by": "python -m app.call.latent_range",
        "model": STUDENT_FILE, "audio": [path.name for path in audio_files],
        "frames": len(latents), "margin": MARGIN,
        "low": [round(float(v), 4) for v in low], "high": [round(float(v), 4) for v in high],
    }, indent=1) + "\n")
    print(f"{RANGE_FILE}: {len(latents)} frames", file=sys.stderr)


if __name__ == "__main__":
    main()
