"""The setup wizard's panel in the headset (`liveface run --calibrate`): what the wizard
says (`app.wizard.panel_ui.PanelState`) drawn as text into a picture, shown on a flat
panel in the scene at arm's length, below the mirror so the avatar's face stays in view.

The panel is world-locked (text that moves with the head is hard to read) and follows
lazily: it is placed in front of the head when the wizard starts, and again whenever the
head has turned more than `FOLLOW_AFTER_RAD` away from it.

    panel = ScenePanel(ctx)
    panel.show(ui.snapshot())                 # redraws the picture when the state moved
    panel.follow(head)                        # world-from-head, 4x4
    panel.draw(view)                          # after the avatar, in each eye
"""

import math
import textwrap
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.render.camera import View, gl_matrix_bytes
from app.render.renderer import load_program
from app.wizard.panel_ui import PanelState
from app.xr.poses import heading, rotation_y

PANEL_SIZE_M = (0.5, 0.3)  # about a sheet of A3 paper: readable at arm's length
PANEL_OFFSET_M = (0.0, -0.26, -0.6)  # from the eyes: ahead, below the mirror's face
FOLLOW_AFTER_RAD = math.radians(35.0)
PICTURE_PX = (1000, 600)  # 2000 px a metre: a line of body text is 2.4 cm, 2.3 degrees
MARGIN_PX = 28
HEADING_PX, BODY_PX, PROMPT_PX = 40, 30, 38
WRAP_CHARS, PROMPT_WRAP_CHARS = 70, 52
BACKGROUND = (24, 30, 44, 235)  # nearly opaque dark blue, as the mirror's panel
TEXT = (235, 235, 235, 255)
PROMPT = (255, 217, 77, 255)  # the sentence to read stands out, as in the mirror
DIM = (150, 160, 180, 255)
HIGHLIGHT = (66, 150, 250, 255)
METER = (90, 200, 120, 255)
FONT_FILES = ("Roboto/Roboto-Regular.ttf", "DroidSans.ttf")  # Latin, Cyrillic, Greek


def panel_pose(head: np.ndarray) -> np.ndarray:
    """World-from-panel (4x4) for a head pose: `PANEL_OFFSET_M` along the head's heading
    (level, whatever the head's pitch and roll), turned to face the eyes."""
    facing = rotation_y(heading(head[:3, :3]))
    offset = np.asarray(PANEL_OFFSET_M)
    tilt = -math.atan2(-offset[1], -offset[2])  # the panel's face turned up to the eyes
    c, s = math.cos(tilt), math.sin(tilt)
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    m = np.eye(4)
    m[:3, :3] = facing @ pitch
    m[:3, 3] = head[:3, 3] + facing @ offset
    return m


def draw_state(state: PanelState, fonts: dict) -> Image.Image:
    """The panel's picture: heading, the latest lines, the prompt, a meter, the choices."""
    picture = Image.new("RGBA", PICTURE_PX, BACKGROUND)
    pen = ImageDraw.Draw(picture)
    width, height = PICTURE_PX
    y = MARGIN_PX
    pen.text((MARGIN_PX, y), state.heading, font=fonts["heading"], fill=TEXT)
    y += HEADING_PX + 14
    pen.line((MARGIN_PX, y, width - MARGIN_PX, y), fill=DIM, width=2)
    y += 12
    bottom = height - MARGIN_PX - (BODY_PX + 24 if state.choices else 0)
    bottom -= (BODY_PX + 16) if state.meter is not None else 0
    prompt = _wrap(state.prompt, PROMPT_WRAP_CHARS)
    body_space = bottom - y - len(prompt) * (PROMPT_PX + 6) - (12 if prompt else 0)
    body = [line for text in state.lines for line in _wrap(text, WRAP_CHARS)]
    body = body[max(0, len(body) - body_space // (BODY_PX + 6)):]  # the latest lines
    for line in body:
        pen.text((MARGIN_PX, y), line, font=fonts["body"], fill=TEXT)
        y += BODY_PX + 6
    if prompt:
        y += 12
        for line in prompt:
            pen.text((MARGIN_PX, y), line, font=fonts["prompt"], fill=PROMPT)
            y += PROMPT_PX + 6
    y = bottom
    if state.meter is not None:
        label, fraction, figure = state.meter
        right = width - MARGIN_PX
        pen.rectangle((MARGIN_PX, y + 4, right, y + BODY_PX + 4), outline=DIM, width=2)
        pen.rectangle((MARGIN_PX, y + 4, MARGIN_PX + fraction * (right - MARGIN_PX),
                       y + BODY_PX + 4), fill=METER)
        pen.text((MARGIN_PX + 8, y + 4), f"{label} {figure}", font=fonts["body"], fill=TEXT)
        y += BODY_PX + 16
    x = MARGIN_PX
    for index, (_, label) in enumerate(state.choices):
        box = pen.textbbox((x + 12, y + 6), label, font=fonts["body"])
        chosen = index == state.highlighted
        pen.rectangle((x, y, box[2] + 12, box[3] + 8), fill=HIGHLIGHT if chosen else None,
                      outline=HIGHLIGHT, width=2)
        pen.text((x + 12, y + 6), label, font=fonts["body"], fill=TEXT)
        x = box[2] + 36
    return picture


def load_fonts() -> dict:
    path = _font_path()
    if path is None:
        return {key: ImageFont.load_default(size) for key, size in
                (("heading", HEADING_PX), ("body", BODY_PX), ("prompt", PROMPT_PX))}
    return {key: ImageFont.truetype(str(path), size) for key, size in
            (("heading", HEADING_PX), ("body", BODY_PX), ("prompt", PROMPT_PX))}


def _font_path() -> Path | None:
    """imgui-bundle's Roboto (a dependency already): wider scripts than PIL's own font."""
    try:
        import imgui_bundle
    except ImportError:
        return None
    fonts = Path(imgui_bundle.__file__).parent / "assets" / "fonts"
    return next((fonts / name for name in FONT_FILES if (fonts / name).is_file()), None)


def _wrap(text: str, chars: int) -> list[str]:
    return [line for paragraph in text.splitlines() or [""] if text
            for line in (textwrap.wrap(paragraph, chars) or [""])]


class ScenePanel:
    """Owns the panel's GPU resources; told what to show and where the head is."""

    def __init__(self, ctx: moderngl.Context):
        self.ctx = ctx
        self.program = load_program(ctx, "panel")
        corners = np.array([-0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 0.5, 0.5], np.float32)
        self.vbo = ctx.buffer(corners.tobytes())
        self.vao = ctx.vertex_array(self.program, [(self.vbo, "2f", "in_corner")])
        self.texture = ctx.texture(PICTURE_PX, 4)
        self.texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self.fonts = load_fonts()
        self.pose: np.ndarray | None = None
        self.shown_version = -1
        self.prompt_frames = 0  # frames drawn with a prompt on the panel
        self.distance_m: float | None = None  # from the eyes, at the last frame
        self.frames = 0

    def show(self, state: PanelState) -> None:
        if state.version != self.shown_version:
            self.texture.write(draw_state(state, self.fonts).tobytes())
            self.texture.build_mipmaps()  # small at a distance: no shimmering text
            self.shown_version = state.version
        self.frames += 1
        self.prompt_frames += bool(state.prompt)

    def follow(self, head: np.ndarray) -> None:
        """Placed in front of the head at first, and again when it has turned away."""
        if self.pose is not None:
            self.distance_m = float(np.linalg.norm(self.pose[:3, 3] - head[:3, 3]))
            turned = heading(head[:3, :3]) - heading(self.pose[:3, :3])
            if abs(math.remainder(turned, math.tau)) < FOLLOW_AFTER_RAD:
                return
        self.pose = panel_pose(head)

    def draw(self, view: View) -> None:
        if self.pose is None:
            return
        framebuffer = view.framebuffer or self.ctx.fbo
        framebuffer.use()
        self.ctx.viewport = view.viewport
        self.program["u_view_proj"].write(gl_matrix_bytes(view.projection @ view.view))
        self.program["u_model"].write(gl_matrix_bytes(self.pose))
        self.program["u_size_m"].value = PANEL_SIZE_M
        self.program["u_encode_srgb"].value = bool(view.encode_srgb)
        self.texture.use(0)
        self.program["u_picture"].value = 0
        self.ctx.enable(moderngl.DEPTH_TEST | moderngl.BLEND)
        self.ctx.disable(moderngl.CULL_FACE)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self.vao.render(moderngl.TRIANGLE_STRIP)
        self.ctx.disable(moderngl.BLEND)

    def release(self) -> None:
        for resource in (self.vao, self.vbo, self.texture, self.program):
            resource.release()
