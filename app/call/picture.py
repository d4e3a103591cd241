"""The headless call's picture: the peer's avatar as last shown, beside your own, through
the offscreen renderer (app/render/offscreen.py), as `liveface render` draws a frame."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.avatar.texture_controls import TextureControls
from app.render.offscreen import OffscreenRenderer, save_png

PANEL_SIZE = (480, 480)


def save_call_picture(path: Path, avatar, peer, own_rig: np.ndarray | None,
                      peer_label: str = "peer") -> None:
    """`peer`: the last `Shown` of the peer's face (None: nothing arrived, the rest face)."""
    renderer = OffscreenRenderer(avatar, *PANEL_SIZE, samples=0, supersample=2)
    try:
        if peer is None:
            peer_image = renderer.render_frame()
            peer_label += " (nothing received)"
        else:
            peer_image = renderer.render_frame(peer.rig, TextureControls(peer.wrinkle, peer.flush))
            peer_label += f" ({peer.state})"
        own_image = renderer.render_frame(own_rig)
    finally:
        renderer.release()
    save_png(path, np.concatenate([_labelled(peer_image, peer_label),
                                   _labelled(own_image, "you")], axis=1))


def _labelled(image: np.ndarray, label: str) -> np.ndarray:
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(12, image.shape[0] // 24))
    margin = image.shape[0] // 30
    draw.text((margin, image.shape[0] - margin), label, fill=(235, 235, 235), font=font,
              anchor="ls")
    return np.asarray(picture)
