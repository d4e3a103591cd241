"""The headless call's picture: the peer's avatar as shown (the avatar they chose when
this side has it, else the shipped head), beside your own, through the offscreen renderer
(app/render/offscreen.py), as `liveface render` draws a frame."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.avatar.texture_controls import TextureControls
from app.render.offscreen import OffscreenRenderer, save_png

PANEL_SIZE = (480, 480)


def save_call_picture(path: Path, result) -> None:
    """`result`: a `CallResult` (app/call/session.py)."""
    from app.avatar.gltf import load_avatar
    from app.resources import default_avatar_path

    peer = result.peer
    label = "peer (nothing received)" if peer is None else f"peer ({peer.state})"
    peer_image = _render(load_avatar(result.peer_avatar or default_avatar_path()),
                         None if peer is None else (peer.rig, TextureControls(peer.wrinkle,
                                                                               peer.flush)))
    own_image = _render(load_avatar(result.own_avatar),
                        None if result.own_rig is None else (result.own_rig, None))
    save_png(path, np.concatenate([_labelled(peer_image, label),
                                   _labelled(own_image, "you")], axis=1))


def save_room_picture(path: Path, result) -> None:
    """Everyone in the room as last shown (or at --screenshot-at), side by side, then you;
    `result`: a `RoomResult` (app/call/room.py)."""
    from app.avatar.gltf import load_avatar
    from app.resources import default_avatar_path

    panels = []
    for name, shown, avatar in result.participants:
        label = f"{name} (nothing received)" if shown is None else f"{name} ({shown.state})"
        face = None if shown is None else (shown.rig, TextureControls(shown.wrinkle, shown.flush))
        panels.append(_labelled(_render(load_avatar(avatar or default_avatar_path()), face),
                                label))
    own = None if result.own_rig is None else (result.own_rig, None)
    panels.append(_labelled(_render(load_avatar(result.own_avatar), own), "you"))
    save_png(path, np.concatenate(panels, axis=1))


def _render(avatar, face) -> np.ndarray:
    """One panel: `face` (rig, texture controls or None) on `avatar`; None: at rest."""
    renderer = OffscreenRenderer(avatar, *PANEL_SIZE, samples=0, supersample=2)
    try:
        return renderer.render_frame() if face is None else renderer.render_frame(*face)
    finally:
        renderer.release()


def _labelled(image: np.ndarray, label: str) -> np.ndarray:
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(12, image.shape[0] // 24))
    margin = image.shape[0] // 30
    draw.text((margin, image.shape[0] - margin), label, fill=(235, 235, 235), font=font,
              anchor="ls")
    return np.asarray(picture)
