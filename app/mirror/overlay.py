"""The mirror's overlay, drawn with Dear ImGui (imgui-bundle) over the avatar: input level,
latency, where the gaze comes from, emotion and intensity, mute, and a warning while the
microphone is lost.

It uses imgui's native GLFW and OpenGL 3 backends on the mirror's own window (they share
one GLFW library, see app/mirror/window.py) and restore the GL state they touch, so the
avatar renderer never notices them. Figures that need percentiles are refreshed a few
times a second, not every frame.
"""

import math
from dataclasses import dataclass

from app.avatar.emotions import EMOTIONS
from app.live.pipeline import LivePipeline

GLSL_VERSION = "#version 330 core"
METER_FLOOR_DBFS = -60.0
READOUT_PERIOD_S = 0.25
RED = (1.0, 0.3, 0.25, 1.0)
GREY = (0.7, 0.7, 0.7, 1.0)


@dataclass
class Readout:
    """Slow-changing figures, refreshed every READOUT_PERIOD_S."""

    capture_to_frame_ms: dict
    model_ms: dict
    display_fps: float = 0.0
    at_s: float = -1.0


class Overlay:
    def __init__(self, window_address: int):
        from imgui_bundle import imgui

        self.imgui = imgui
        imgui.create_context()
        io = imgui.get_io()
        io.set_ini_filename(None)  # never write imgui.ini into the user's folder
        imgui.style_colors_dark()
        imgui.backends.glfw_init_for_opengl(window_address, True)  # chains our callbacks
        imgui.backends.opengl3_init(GLSL_VERSION)
        self.readout = Readout({"p50": None, "p99": None}, {"p50": None, "p99": None})
        self.visible = True
        self.panel = None  # a second window drawn each frame (the setup wizard's), if any

    def wants_input(self) -> bool:
        """True while the pointer or keyboard is busy with an overlay widget."""
        io = self.imgui.get_io()
        return bool(io.want_capture_mouse or io.want_capture_keyboard)

    def draw(self, pipeline: LivePipeline, now_s: float, render_fps: float) -> None:
        imgui = self.imgui
        if now_s - self.readout.at_s >= READOUT_PERIOD_S:
            self._refresh(pipeline, now_s, render_fps)
        imgui.backends.opengl3_new_frame()
        imgui.backends.glfw_new_frame()
        imgui.new_frame()
        imgui.set_next_window_pos((10, 10), imgui.Cond_.first_use_ever)
        imgui.set_next_window_bg_alpha(0.7)
        flags = (imgui.WindowFlags_.always_auto_resize | imgui.WindowFlags_.no_saved_settings
                 | imgui.WindowFlags_.no_focus_on_appearing)
        expanded, _ = imgui.begin("liveface", None, flags)
        if expanded:
            self._widgets(pipeline)
        imgui.end()
        if self.panel is not None:
            self.panel.draw(imgui)
        imgui.render()
        imgui.backends.opengl3_render_draw_data(imgui.get_draw_data())

    def _refresh(self, pipeline: LivePipeline, now_s: float, render_fps: float) -> None:
        stats = pipeline.stats.to_dict()
        self.readout = Readout(stats["capture_to_frame_ms"], stats["model_ms"], render_fps, now_s)

    def _widgets(self, pipeline: LivePipeline) -> None:
        imgui, status = self.imgui, pipeline.status
        source = status.source
        if not status.device_ok:
            imgui.text_colored(RED, "MICROPHONE LOST - reconnecting")
        elif source.finished:
            imgui.text_colored(GREY, "audio file finished")
        fraction = min(1.0, max(0.0, 1.0 - source.level_dbfs / METER_FLOOR_DBFS))
        imgui.text("input")
        imgui.same_line()
        if source.clipping:
            imgui.push_style_color(imgui.Col_.plot_histogram, RED)
        imgui.progress_bar(fraction, (200, 0), f"{source.level_dbfs:.0f} dBFS")
        if source.clipping:
            imgui.pop_style_color()
        r = self.readout
        imgui.text(f"capture->frame  p50 {_ms(r.capture_to_frame_ms['p50'])}"
                   f"  p99 {_ms(r.capture_to_frame_ms['p99'])}")
        imgui.text(f"model           p50 {_ms(r.model_ms['p50'])}  p99 {_ms(r.model_ms['p99'])}")
        imgui.text(f"display {r.display_fps:.0f} fps")
        imgui.text(_gaze_line(status.gaze))
        imgui.separator()
        self._controls(pipeline, status)

    def _controls(self, pipeline: LivePipeline, status) -> None:
        imgui = self.imgui
        imgui.push_item_width(140)
        changed, index = imgui.combo("emotion", EMOTIONS.index(status.emotion), list(EMOTIONS))
        changed_i, intensity = imgui.slider_float("intensity", status.intensity, 0.0, 1.0, "%.2f")
        imgui.pop_item_width()
        if changed or changed_i:
            pipeline.set_emotion(EMOTIONS[index], intensity)
        clicked, muted = imgui.checkbox("mute", status.muted)
        if clicked:
            pipeline.muted = muted
        imgui.text_colored(GREY, "drag: orbit  wheel: zoom  R: reset")

    def release(self) -> None:
        imgui = self.imgui
        imgui.backends.opengl3_shutdown()
        imgui.backends.glfw_shutdown()
        imgui.destroy_context()


def _gaze_line(gaze: tuple[float, float] | None) -> str:
    if gaze is None:
        return "gaze            the model's own"
    yaw, pitch = (math.degrees(angle) for angle in gaze)
    return f"gaze            measured {yaw:+3.0f} / {pitch:+3.0f} deg"


def _ms(value) -> str:
    return "  -- ms" if value is None else f"{value:5.1f} ms"
