"""Whole rendering jobs for the CLI: a sequence of faces to an MP4 file or PNG frames.

Outputs are written beside their destination under a temporary name and moved into place
only when complete, so a failed or interrupted job never leaves a half-written file or
clobbers an earlier result.
"""

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rich.progress import Progress

from app.avatar.model import Avatar
from app.avatar.showcase import ShowcaseFrame, showcase_frames
from app.config import RenderConfig
from app.errors import LivefaceError
from app.render.offscreen import OffscreenRenderer, save_png
from app.render.video import VideoWriter


def render_expressions(
    avatar: Avatar, out: Path, config: RenderConfig, frames: int | None = None
) -> int:
    """Render the expression showcase; returns the number of frames written."""
    sequence = list(showcase_frames(config.fps, frames))
    return render_sequence(avatar, sequence, out, config)


def render_sequence(
    avatar: Avatar, sequence: Iterable[ShowcaseFrame], out: Path, config: RenderConfig,
    audio: np.ndarray | None = None,
) -> int:
    """Render captioned frames to `out`: an .mp4 file (with `audio`, 16 kHz, muxed in when
    given), or a folder of PNGs."""
    sequence = list(sequence)
    if config.width % 2 or config.height % 2:
        raise LivefaceError(f"video sizes must be even; got {config.width}x{config.height}.")
    renderer = OffscreenRenderer(avatar, config.width, config.height, samples=config.samples,
                                 supersample=config.supersample)
    images = (_captioned(renderer.render_frame(f.rig, f.texture), f.label) for f in sequence)
    if out.suffix.lower() == ".mp4":
        _write_video(images, out, config, len(sequence), audio)
    elif out.suffix == "":
        _write_pngs(images, out, len(sequence))
    else:
        raise LivefaceError(f"--out must be an .mp4 file or a folder for PNG frames, got {out}.")
    return len(sequence)


def _progress(images: Iterable[np.ndarray], total: int) -> Iterable[np.ndarray]:
    with Progress(transient=True) as progress:
        task = progress.add_task("rendering", total=total)
        for image in images:
            yield image
            progress.advance(task)


def _staging_dir(out: Path) -> Path:
    parent = out.resolve().parent
    if not parent.is_dir():
        raise LivefaceError(f"folder {parent} does not exist; create it or choose another --out.")
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as err:
        raise LivefaceError(f"cannot write into {parent}: {err.strerror}.") from None


def _write_video(images: Iterable[np.ndarray], out: Path, config: RenderConfig, total: int,
                 audio: np.ndarray | None):
    staging = _staging_dir(out)
    try:
        partial = staging / out.name
        with VideoWriter(partial, config.fps, config.width, config.height, audio) as video:
            for image in _progress(images, total):
                video.write(image)
        partial.replace(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_pngs(images: Iterable[np.ndarray], out: Path, total: int):
    if out.exists() and any(out.iterdir()):
        raise LivefaceError(f"folder {out} is not empty; choose a new folder for PNG frames.")
    staging = _staging_dir(out)
    try:
        for index, image in enumerate(_progress(images, total)):
            save_png(staging / f"frame_{index:05d}.png", image)
        if out.exists():
            out.rmdir()
        staging.replace(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _captioned(image: np.ndarray, label: str) -> np.ndarray:
    """The frame with its expression name in the lower-left corner."""
    if not label:
        return image
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(12, image.shape[0] // 30))
    margin = image.shape[0] // 40
    draw.text((margin, image.shape[0] - margin), label, fill=(235, 235, 235), font=font,
              anchor="ls")
    return np.asarray(picture)
