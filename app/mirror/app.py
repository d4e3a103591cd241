"""The mirror's frame loop: `on_render(time, frametime)` draws one frame and is the only
thing in the hot path.

Each frame samples the live pipeline at the frame's clock time (it never waits for the
model), draws the avatar through the shared `AvatarRenderer`, then the overlay. The loop
paces itself to a frame cap (the monitor's rate by default) with vsync off, so a slow
display never holds it up; `--duration` ends it, and the last frame can be read back from
the default framebuffer before the swap as a screenshot.
"""

import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np

from app.avatar.texture_controls import TextureControls
from app.config import MirrorConfig
from app.errors import LivefaceError
from app.live.pipeline import LivePipeline
from app.mirror.orbit import OrbitCamera
from app.render.renderer import AvatarRenderer

SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swiftshader", "swrast")
FRAME_WINDOW = 3000  # frame intervals kept for percentiles


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


class SceneTarget:
    """Where the avatar is drawn: a multisampled framebuffer resolved onto the window, or
    the window itself when MSAA is off. Follows the window's size."""

    def __init__(self, ctx: moderngl.Context, samples: int):
        self.ctx, self.samples = ctx, samples
        self.size = (0, 0)
        self.screen = ctx.screen
        self.fbo: moderngl.Framebuffer | None = None

    def resize(self, size: tuple[int, int]) -> None:
        if size == self.size:
            return
        self.size = size
        self.ctx.viewport = (0, 0, *size)
        self.screen = self.ctx.detect_framebuffer(0)  # the window's, at its new size
        self._release_fbo()
        if self.samples > 1:
            color = self.ctx.renderbuffer(size, 4, samples=self.samples)
            depth = self.ctx.depth_renderbuffer(size, samples=self.samples)
            self.fbo = self.ctx.framebuffer([color], depth)

    @property
    def framebuffer(self):
        return self.fbo if self.fbo is not None else self.screen

    def resolve(self) -> None:
        if self.fbo is not None:
            self.ctx.copy_framebuffer(self.screen, self.fbo)

    def _release_fbo(self) -> None:
        if self.fbo is not None:
            for attachment in (*self.fbo.color_attachments, self.fbo.depth_attachment):
                attachment.release()
            self.fbo.release()
            self.fbo = None


def msaa_samples(ctx: moderngl.Context, wanted: int) -> int:
    """MSAA samples to use: none on software OpenGL (llvmpipe's MSAA path is slow and
    stalls), else `wanted` within what the driver allows."""
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    if wanted <= 1 or any(name in renderer for name in SOFTWARE_RENDERERS):
        return 0
    return min(wanted, int(ctx.info.get("GL_MAX_SAMPLES", 0) or 0))


@dataclass
class RunResult:
    frames: FrameCounter
    screenshot: Path | None


class MirrorApp:
    def __init__(self, ctx: moderngl.Context, window, renderer: AvatarRenderer,
                 pipeline: LivePipeline, camera: OrbitCamera, overlay, config: MirrorConfig,
                 clock):
        self.ctx, self.window, self.renderer = ctx, window, renderer
        self.pipeline, self.camera, self.overlay = pipeline, camera, overlay
        self.config, self.clock = config, clock
        self.samples = msaa_samples(ctx, config.samples)
        self.target = SceneTarget(ctx, self.samples)
        self.counter = FrameCounter()
        self.bounds = renderer.avatar.bounds()
        self._start_s = 0.0

    def on_render(self, time_s: float, frametime_s: float) -> None:
        """Draw one frame at `time_s` seconds into the run (frametime_s: since the last)."""
        width, height = self.window.framebuffer_size()
        if width < 1 or height < 1:  # minimised: nothing to draw into
            return
        self.target.resize((width, height))
        shown = self.pipeline.sample(self._start_s + time_s)
        view = self.camera.view(self.bounds, width, height, self.target.framebuffer)
        self.renderer.draw(shown.rig, TextureControls(shown.wrinkle, shown.flush), [view],
                           background=self.config.background)
        self.target.resolve()
        if self.overlay is not None:
            self.target.screen.use()
            self.overlay.draw(self.pipeline, self._start_s + time_s, self.counter.fps)

    def run(self, duration_s: float | None, screenshot: Path | None) -> RunResult:
        """Render until the window closes or `duration_s` has passed."""
        period_s = 1.0 / self.frame_cap_hz()
        self._start_s = previous_s = self.clock.now_s()
        deadline_s = self._start_s
        saved = None
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
            if last:
                return RunResult(self.counter, saved)
            previous_s = now_s
            deadline_s = max(deadline_s + period_s, now_s)  # late frames are not made up
            self.clock.sleep_s(deadline_s - self.clock.now_s())

    def frame_cap_hz(self) -> float:
        return self.config.max_fps if self.config.max_fps > 0 else self.window.refresh_rate_hz()

    def save_screenshot(self, path: Path) -> Path:
        """The default framebuffer as it is about to be shown, as a PNG."""
        from PIL import Image

        width, height = self.target.size
        data = self.target.screen.read(viewport=(0, 0, width, height), components=3, alignment=1)
        image = Image.frombytes("RGB", (width, height), data).transpose(Image.FLIP_TOP_BOTTOM)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
        except OSError as err:
            raise LivefaceError(f"cannot write the screenshot {path}: {err.strerror}.") from None
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


def notice(text: str) -> None:
    print(f"liveface: {text}", file=sys.stderr)
