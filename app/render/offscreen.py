"""Rendering without a window: an EGL context, MSAA targets read back as RGB images.

Used by the `render` command, the benchmarks and the tests; on a machine without a GPU
Mesa's llvmpipe renders through EGL with no display.
"""

import ctypes
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image

from app.avatar.model import Avatar
from app.avatar.rig import neutral_rig
from app.avatar.texture_controls import TextureControls
from app.errors import LivefaceError
from app.render.camera import View, portrait_view, stereo_views
from app.render.renderer import AvatarRenderer

REQUIRED_GL_VERSION = 330
DEFAULT_BACKGROUND = (0.08, 0.09, 0.11)


def create_headless_context() -> moderngl.Context:
    """A standalone OpenGL 3.3+ core context through EGL (no display needed)."""
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=REQUIRED_GL_VERSION)
    except Exception as err:  # moderngl/glcontext raise plain Exceptions for missing libs
        raise LivefaceError(
            "cannot create a headless OpenGL context through EGL "
            f"({err}); install the Mesa EGL drivers (Debian: libegl1 libegl-mesa0 "
            "libgl1-mesa-dri) or a GPU driver with EGL support."
        ) from None
    return ctx


class OffscreenTarget:
    """A colour + depth framebuffer, multisampled when `samples` > 1, with a resolve
    framebuffer for reading it back.

    `supersample` > 1 renders `supersample` times larger and averages pixel blocks on
    read-back: anti-aliasing without MSAA, whose llvmpipe rasteriser can take seconds on
    rare frames. Views drawn into it must then use `pixel_size`.
    """

    def __init__(self, ctx: moderngl.Context, width: int, height: int, samples: int = 4,
                 supersample: int = 1):
        if width <= 0 or height <= 0 or supersample < 1:
            raise LivefaceError(f"image size must be positive, got {width}x{height}.")
        self.ctx, self.width, self.height = ctx, width, height
        self.supersample = supersample
        self.samples = min(samples, ctx.max_samples) if samples > 1 else 0
        size = self.pixel_size = (width * supersample, height * supersample)
        self._color = ctx.renderbuffer(size, 4, samples=self.samples)
        self._depth = ctx.depth_renderbuffer(size, samples=self.samples)
        self.framebuffer = ctx.framebuffer([self._color], self._depth)
        self._resolved = None
        if self.samples:
            self._resolve_color = ctx.renderbuffer(size, 4)
            self._resolved = ctx.framebuffer([self._resolve_color])

    def clear(self, color: tuple[float, float, float]) -> None:
        self.framebuffer.clear(*color, 1.0, depth=1.0)

    def read_rgb(self) -> np.ndarray:
        """The picture as (height, width, 3) uint8, top row first."""
        source = self.framebuffer
        if self._resolved is not None:
            self.ctx.copy_framebuffer(self._resolved, self.framebuffer)
            source = self._resolved
        data = source.read(components=3, alignment=1)
        k = self.supersample
        image = np.frombuffer(data, np.uint8).reshape(self.height * k, self.width * k, 3)
        if k > 1:  # box filter: the mean of each k x k block, rounded
            blocks = image.reshape(self.height, k, self.width, k, 3).astype(np.uint16)
            image = ((blocks.sum(axis=(1, 3)) + k * k // 2) // (k * k)).astype(np.uint8)
        return np.ascontiguousarray(image[::-1])  # GL rows start at the bottom

    def release(self) -> None:
        if self.ctx.fbo in (self.framebuffer, self._resolved):
            # GL would otherwise keep a deleted framebuffer bound, and moderngl rebinds
            # "the current one" after creating the next framebuffer: an invalid operation.
            self.ctx.detect_framebuffer(0).use()
        objects = [self.framebuffer, self._color, self._depth]
        if self._resolved is not None:
            objects += [self._resolved, self._resolve_color]
        for obj in objects:
            obj.release()


class OffscreenRenderer:
    """An avatar rendered head-on into images: one portrait, or a stereo pair."""

    def __init__(self, avatar: Avatar, width: int, height: int, samples: int = 4,
                 background: tuple[float, float, float] = DEFAULT_BACKGROUND,
                 ctx: moderngl.Context | None = None, supersample: int = 1):
        self._owns_ctx = ctx is None
        self.ctx = ctx or create_headless_context()
        self.avatar = avatar
        self.background = tuple(float(c) for c in background)
        self.renderer = AvatarRenderer(self.ctx, avatar)
        self.target = OffscreenTarget(self.ctx, width, height, samples, supersample)
        self._right_target: OffscreenTarget | None = None
        self.view = portrait_view(avatar.frame_bounds(), *self.target.pixel_size,
                                  self.target.framebuffer)

    def render_frame(self, rig: np.ndarray | None = None,
                     texture: TextureControls | None = None,
                     views: list[View] | None = None) -> np.ndarray:
        """One picture (H, W, 3) uint8; `views` default to the head-on portrait and
        must draw into `self.target.framebuffer`."""
        rig = neutral_rig() if rig is None else rig
        texture = texture or TextureControls.neutral()
        self.target.clear(self.background)
        self.renderer.draw(rig, texture, views or [self.view])
        return self.target.read_rgb()

    def render_stereo(self, rig: np.ndarray | None = None,
                      texture: TextureControls | None = None,
                      ipd_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Left and right eye pictures from the portrait camera, `ipd_m` apart."""
        rig = neutral_rig() if rig is None else rig
        texture = texture or TextureControls.neutral()
        right = self._right()
        kwargs = {} if ipd_m is None else {"ipd_m": ipd_m}
        left_view, right_view = stereo_views(
            self.view, framebuffers=(self.target.framebuffer, right.framebuffer), **kwargs)
        self.target.clear(self.background)
        right.clear(self.background)
        self.renderer.draw(rig, texture, [left_view, right_view])
        return self.target.read_rgb(), right.read_rgb()

    def _right(self) -> OffscreenTarget:
        if self._right_target is None:
            t = self.target
            self._right_target = OffscreenTarget(self.ctx, t.width, t.height, t.samples,
                                                 t.supersample)
        return self._right_target

    def release(self) -> None:
        self.renderer.release()
        self.target.release()
        if self._right_target is not None:
            self._right_target.release()
        if self._owns_ctx:
            self.ctx.release()


def gl_function(get_proc_address, name: str, restype, *arguments):
    """An OpenGL entry point moderngl does not expose, as a ctypes function, from the
    context's proc-address lookup (EGL, glfw)."""
    address = get_proc_address(name)
    if not address:
        raise LivefaceError(f"the OpenGL driver lacks {name}; OpenGL 3.3 is needed.")
    return ctypes.CFUNCTYPE(restype, *arguments)(address)


def save_png(path: Path | str, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 image as PNG, making its folder when missing."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image, np.uint8)).save(Path(path), format="PNG")
    except OSError as err:
        raise LivefaceError(f"cannot write {path}: {err}.") from None
