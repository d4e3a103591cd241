"""The mirror's frame loop: `on_render(time, frametime)` draws one frame and is the only
thing in the hot path.

Each frame samples the live pipeline at the frame's clock time (it never waits for the
model), draws the avatar through the shared `AvatarRenderer`, then the overlay. The loop
paces itself to a frame cap (the monitor's rate by default) with vsync off, so a slow
display never holds it up; `--duration` ends it, and the last frame can be read back from
the default framebuffer before the swap as a screenshot.
"""

import ctypes
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np

from app.avatar.texture_controls import TextureControls
from app.config import MirrorConfig
from app.live.pipeline import LivePipeline
from app.mirror.orbit import OrbitCamera
from app.render.offscreen import gl_function, save_png
from app.render.renderer import AvatarRenderer

SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swiftshader", "swrast")
SOFTWARE_PIXEL_BUDGET = 480 * 360  # pixels drawn per frame on software OpenGL (auto scale):
# llvmpipe shades the skin at about 7 ms per 100k pixels on two cores, and 30 fps must
# leave room for the model and the window
GL_READ_FRAMEBUFFER, GL_DRAW_FRAMEBUFFER = 0x8CA8, 0x8CA9
GL_COLOR_BUFFER_BIT, GL_LINEAR = 0x4000, 0x2601
FRAME_WINDOW = 3000  # frame intervals kept for percentiles
SMOOTH_FPS = 30.0  # the automatic render scale gives up pixels to hold at least this rate


class FrameCounter:
    """Rendered frames, their rate, and the interval between swaps."""

    def __init__(self):
        self.frames = 0
        self.first_s = self.last_s = None
        self.intervals_s: deque[float] = deque(maxlen=FRAME_WINDOW)

    def tick(self, now_s: float) -> None:
        if self.last_s is not None:
            self.intervals_s.append(now_s - self.last_s)
        else:
            self.first_s = now_s
        self.last_s = now_s
        self.frames += 1

    @property
    def fps(self) -> float:
        if self.frames < 2 or self.last_s <= self.first_s:
            return 0.0
        return (self.frames - 1) / (self.last_s - self.first_s)

    def interval_ms(self) -> dict:
        if not self.intervals_s:
            return {"p50": None, "p99": None}
        p50, p99 = np.percentile(np.fromiter(self.intervals_s, np.float64), [50, 99]) * 1000.0
        return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}


class ResolutionGovernor:
    """Dynamic resolution: draws fewer pixels while frames take longer than a
    `target_fps` frame, and more again (up to `max_scale`) when there is room.

    It watches the work time of frames (drawing and presenting, not the sleep before the
    next one), averaged over `every` frames; the cost of a frame grows with the pixels
    drawn, i.e. with the square of the scale.
    """

    def __init__(self, scale: float, max_scale: float, target_fps: float = SMOOTH_FPS,
                 min_scale: float = 0.2, every: int = 10):
        self.scale, self.max_scale, self.min_scale = scale, max_scale, min_scale
        self.budget_s, self.every = 1.0 / target_fps, every
        self._work_s: list[float] = []

    def observe(self, work_s: float) -> float | None:
        """Record one frame's work time; a new scale when it is time to change."""
        self._work_s.append(work_s)
        if len(self._work_s) < self.every:
            return None
        average_s = float(np.mean(self._work_s))
        self._work_s.clear()
        if average_s > 0.9 * self.budget_s:  # too slow: aim for 80% of the budget
            wanted = self.scale * max(0.7, (0.8 * self.budget_s / average_s) ** 0.5)
        elif average_s < 0.55 * self.budget_s:  # plenty of room: grow gently
            wanted = self.scale * 1.08
        else:
            return None
        wanted = float(np.clip(wanted, self.min_scale, self.max_scale))
        if abs(wanted - self.scale) < 0.01:
            return None
        self.scale = wanted
        return wanted


class SceneTarget:
    """Where the avatar is drawn, following the window's size.

    Straight into the window when it can be; else into an offscreen framebuffer at
    `scale_for(window size)` times the window's size (multisampled when `samples` > 1) that `present`
    resolves and stretches onto the window with linear filtering.
    """

    def __init__(self, ctx: moderngl.Context, samples: int,
                 scale_for: Callable[[tuple[int, int]], float], blit: "ScalingBlit"):
        self.ctx, self.samples, self.scale_for, self.blit = ctx, samples, scale_for, blit
        self.size = self.render_size = (0, 0)
        self.scale = 1.0
        self.screen = ctx.screen
        self._draw: moderngl.Framebuffer | None = None  # what the renderer draws into
        self._resolve: moderngl.Framebuffer | None = None  # single-sampled, for stretching

    def resize(self, size: tuple[int, int], scale: float | None = None) -> None:
        """Follow the window's `size`; `scale` (else `scale_for(size)`) of it is drawn."""
        if size == self.size and scale is None:
            return
        self.size = size
        scale = self.scale_for(size) if scale is None else scale
        self.scale = scale
        self.render_size = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        self.ctx.viewport = (0, 0, *size)
        self.screen = self.ctx.detect_framebuffer(0)  # the window's, at its new size
        self._release()
        if self.samples > 1:
            self._draw = self._framebuffer(self.samples)
        if self.render_size != size:
            self._resolve = self._framebuffer(0)
            self._draw = self._draw or self._resolve

    @property
    def framebuffer(self) -> moderngl.Framebuffer:
        return self._draw if self._draw is not None else self.screen

    def present(self) -> None:
        """Bring the drawn picture onto the window's framebuffer and bind that."""
        if self._draw is not None and self._resolve is None:
            self.ctx.copy_framebuffer(self.screen, self._draw)
        elif self._resolve is not None:
            if self._draw is not self._resolve:
                self.ctx.copy_framebuffer(self._resolve, self._draw)
            self.blit(self._resolve, self.render_size, self.size)
        self.screen.use()

    def _framebuffer(self, samples: int) -> moderngl.Framebuffer:
        color = self.ctx.renderbuffer(self.render_size, 4, samples=samples)
        depth = self.ctx.depth_renderbuffer(self.render_size, samples=samples)
        return self.ctx.framebuffer([color], depth)

    def _release(self) -> None:
        for fbo in {id(f): f for f in (self._draw, self._resolve) if f is not None}.values():
            for attachment in (*fbo.color_attachments, fbo.depth_attachment):
                attachment.release()
            fbo.release()
        self._draw = self._resolve = None


class ScalingBlit:
    """glBlitFramebuffer from a framebuffer onto the window's, stretched with linear
    filtering; moderngl's `copy_framebuffer` copies at the same size only."""

    def __init__(self, get_proc_address):
        self._bind = gl_function(get_proc_address, "glBindFramebuffer", None, ctypes.c_uint,
                                 ctypes.c_uint)
        self._blit = gl_function(get_proc_address, "glBlitFramebuffer", None,
                                 *[ctypes.c_int] * 8, ctypes.c_uint, ctypes.c_uint)

    def __call__(self, source: moderngl.Framebuffer, source_size, target_size) -> None:
        self._bind(GL_READ_FRAMEBUFFER, source.glo)
        self._bind(GL_DRAW_FRAMEBUFFER, 0)
        self._blit(0, 0, *source_size, 0, 0, *target_size, GL_COLOR_BUFFER_BIT, GL_LINEAR)


def msaa_samples(ctx: moderngl.Context, wanted: int) -> int:
    """MSAA samples to use: none on software OpenGL (llvmpipe's MSAA path is slow and
    stalls), else `wanted` within what the driver allows."""
    if wanted <= 1 or is_software(ctx):
        return 0
    return min(wanted, int(ctx.info.get("GL_MAX_SAMPLES", 0) or 0))


def render_scale(ctx: moderngl.Context, wanted: float, size: tuple[int, int]) -> float:
    """`wanted` when set (0 < wanted <= 1); automatically, 1 on a GPU and, on software
    OpenGL, whatever keeps the drawn picture within SOFTWARE_PIXEL_BUDGET (its cost
    grows with the pixels drawn)."""
    if wanted > 0:
        return min(1.0, wanted)
    if not is_software(ctx):
        return 1.0
    return min(1.0, (SOFTWARE_PIXEL_BUDGET / (size[0] * size[1])) ** 0.5)


def is_software(ctx: moderngl.Context) -> bool:
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(name in renderer for name in SOFTWARE_RENDERERS)


@dataclass
class RunResult:
    frames: FrameCounter
    screenshot: Path | None
    cpu_ms_per_frame: float  # the whole process's CPU time (all threads) per frame


class MirrorApp:
    def __init__(self, ctx: moderngl.Context, window, renderer: AvatarRenderer,
                 pipeline: LivePipeline, camera: OrbitCamera, overlay, config: MirrorConfig,
                 clock):
        self.ctx, self.window, self.renderer = ctx, window, renderer
        self.pipeline, self.camera, self.overlay = pipeline, camera, overlay
        self.config, self.clock = config, clock
        self.samples = msaa_samples(ctx, config.samples)
        self.target = SceneTarget(ctx, self.samples,
                                  lambda size: render_scale(ctx, config.render_scale, size),
                                  ScalingBlit(window.proc_address))
        self.counter = FrameCounter()
        self.governor: ResolutionGovernor | None = None  # automatic scale only
        self.bounds = renderer.avatar.frame_bounds()
        self._start_s = 0.0

    def on_render(self, time_s: float, frametime_s: float) -> None:
        """Draw one frame at `time_s` seconds into the run (frametime_s: since the last)."""
        width, height = self.window.framebuffer_size()
        if width < 1 or height < 1:  # minimised: nothing to draw into
            return
        if (width, height) != self.target.size:
            self.target.resize((width, height))
            if self.config.render_scale <= 0:  # automatic: hold the frame rate
                self.governor = ResolutionGovernor(self.target.scale, max_scale=1.0)
        shown = self.pipeline.sample(self._start_s + time_s)
        view = self.camera.view(self.bounds, *self.target.render_size, self.target.framebuffer)
        self.renderer.draw(shown.rig, TextureControls(shown.wrinkle, shown.flush), [view],
                           background=self.config.background)
        self.target.present()
        if self.overlay is not None:
            self.overlay.draw(self.pipeline, self._start_s + time_s, self.counter.fps)

    def run(self, duration_s: float | None, screenshot: Path | None) -> RunResult:
        """Render until the window closes or `duration_s` has passed."""
        period_s = 1.0 / self.frame_cap_hz()
        self._start_s = previous_s = self.clock.now_s()
        deadline_s = self._start_s
        saved = None
        cpu_start_s = time.process_time()
        while True:
            self.window.poll()
            now_s = self.clock.now_s()
            last = self.window.should_close or (
                duration_s is not None and now_s - self._start_s >= duration_s)
            self.on_render(now_s - self._start_s, now_s - previous_s)
            if last and screenshot is not None:
                saved = self.save_screenshot(screenshot)
            self.window.swap()
            self.counter.tick(self.clock.now_s())
            self._govern(self.clock.now_s() - now_s)
            if last:
                cpu_ms = (time.process_time() - cpu_start_s) * 1000.0 / self.counter.frames
                return RunResult(self.counter, saved, round(cpu_ms, 2))
            previous_s = now_s
            deadline_s = max(deadline_s + period_s, now_s)  # late frames are not made up
            self.clock.sleep_s(deadline_s - self.clock.now_s())

    def _govern(self, work_s: float) -> None:
        scale = self.governor.observe(work_s) if self.governor is not None else None
        if scale is not None:
            self.target.resize(self.target.size, scale)

    def frame_cap_hz(self) -> float:
        return self.config.max_fps if self.config.max_fps > 0 else self.window.refresh_rate_hz()

    def save_screenshot(self, path: Path) -> Path:
        """The default framebuffer as it is about to be shown, as a PNG."""
        width, height = self.target.size
        data = self.target.screen.read(viewport=(0, 0, width, height), components=3, alignment=1)
        save_png(path, np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1])
        return path


def mirror_stats(pipeline: LivePipeline, frames: FrameCounter, extra: dict) -> dict:
    """The run's figures: rendered frames and rate as `fps`/`frames`, the pipeline's own
    figures beside them (its model frame rate as `model_fps`/`model_frames`)."""
    live = pipeline.stats.to_dict()
    stats = {
        "fps": round(frames.fps, 3),
        "frames": frames.frames,
        "dropped": live.pop("dropped"),
        "capture_to_frame_ms": live.pop("capture_to_frame_ms"),
        "model_ms": live.pop("model_ms"),
        "frame_to_display_ms": live.pop("frame_to_display_ms"),
        "frame_interval_ms": frames.interval_ms(),
        "states": [],
        "model_fps": live.pop("fps"),
        "model_frames": live.pop("frames"),
    }
    stats.update(live)
    stats.update(extra)
    return stats
