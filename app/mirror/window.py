"""The mirror's glfw window: an OpenGL 3.3 core context, resizable, vsync off, and the
mouse and keys that drive the orbit camera.

imgui-bundle ships its own GLFW library and, when it is imported before `glfw`, points
pyGLFW at it, so the overlay's GLFW backend and this window share one GLFW. That is why
`imgui_bundle` is imported first here.
"""

import ctypes
import os
from dataclasses import dataclass

try:  # must precede `import glfw`: see the module docstring
    import imgui_bundle  # noqa: F401
except ImportError:  # the overlay is optional; the mirror runs without it
    imgui_bundle = None
import glfw

from app.errors import LivefaceError
from app.mirror.orbit import OrbitCamera

GL_VERSION = (3, 3)
DOUBLE_CLICK_S = 0.35
FALLBACK_REFRESH_HZ = 60


def no_display_error(detail: str) -> LivefaceError:
    return LivefaceError(
        f"cannot open a window ({detail}); run the mirror on a desktop, under a virtual "
        "display (`xvfb-run -s '-screen 0 1280x800x24' liveface mirror ...`), or render "
        "to a video without a window with `liveface render --audio FILE --out out.mp4`.")


def imgui_bundle_installed() -> bool:
    return imgui_bundle is not None


def shares_glfw_with_overlay() -> bool:
    """True when pyGLFW uses imgui-bundle's GLFW library (one GLFW in the process)."""
    wanted = os.environ.get("PYGLFW_LIBRARY")
    loaded = getattr(glfw.library.glfw, "_name", None)
    return imgui_bundle is not None and bool(wanted) and wanted == loaded


@dataclass
class WindowOptions:
    width: int
    height: int
    title: str = "liveface mirror"
    visible: bool = True


class MirrorWindow:
    """Opens the window in `__enter__`, closes it and ends GLFW in `__exit__`."""

    def __init__(self, options: WindowOptions, camera: OrbitCamera, clock):
        self.options, self.camera, self.clock = options, camera, clock
        self.handle = None
        self.wants_input = lambda: False  # the overlay replaces this: it owns the mouse then
        self._dragging = False
        self._last_cursor: tuple[float, float] | None = None
        self._last_press_s = -1.0

    # -- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> "MirrorWindow":
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise no_display_error("DISPLAY is not set")
        glfw.ERROR_REPORTING = "ignore"  # failures are read with get_error and explained
        if not glfw.init():
            raise no_display_error(f"GLFW could not start: {_glfw_error()}")
        try:
            self.handle = self._create()
        except BaseException:
            glfw.terminate()
            raise
        glfw.make_context_current(self.handle)
        glfw.swap_interval(0)  # vsync off: the loop paces itself, the display never blocks it
        self._install_input()
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            glfw.destroy_window(self.handle)
            self.handle = None
        glfw.terminate()

    def _create(self):
        o = self.options
        glfw.default_window_hints()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, GL_VERSION[0])
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, GL_VERSION[1])
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.RESIZABLE, True)
        glfw.window_hint(glfw.VISIBLE, o.visible)
        glfw.window_hint(glfw.DEPTH_BITS, 24)
        handle = glfw.create_window(o.width, o.height, o.title, None, None)
        if not handle:
            raise no_display_error(f"no OpenGL {GL_VERSION[0]}.{GL_VERSION[1]} core window: "
                                   f"{_glfw_error()}")
        return handle

    # -- per frame ------------------------------------------------------------------------
    @property
    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self.handle))

    def framebuffer_size(self) -> tuple[int, int]:
        return glfw.get_framebuffer_size(self.handle)

    def poll(self) -> None:
        glfw.poll_events()

    def swap(self) -> None:
        glfw.swap_buffers(self.handle)

    def refresh_rate_hz(self) -> float:
        """The refresh rate of the monitor the window is on (the primary one), or 60."""
        monitor = glfw.get_primary_monitor()
        mode = glfw.get_video_mode(monitor) if monitor else None
        rate = getattr(mode, "refresh_rate", 0) if mode else 0
        return float(rate) if rate and rate > 0 else float(FALLBACK_REFRESH_HZ)

    @staticmethod
    def proc_address(name: str) -> int | None:
        """Address of an OpenGL function in the current context."""
        return glfw.get_proc_address(name)

    @property
    def address(self) -> int:
        """The GLFWwindow pointer as an integer, for the overlay's native backend."""
        return ctypes.cast(self.handle, ctypes.c_void_p).value

    # -- input (installed before the overlay, which chains to these) --------------------------
    def _install_input(self) -> None:
        glfw.set_mouse_button_callback(self.handle, self._on_mouse_button)
        glfw.set_cursor_pos_callback(self.handle, self._on_cursor)
        glfw.set_scroll_callback(self.handle, self._on_scroll)
        glfw.set_key_callback(self.handle, self._on_key)

    def _on_mouse_button(self, _window, button, action, _mods) -> None:
        if button != glfw.MOUSE_BUTTON_LEFT:
            return
        if action == glfw.RELEASE:
            self._dragging = False
            return
        if self.wants_input():
            return
        now_s = self.clock.now_s()
        if now_s - self._last_press_s <= DOUBLE_CLICK_S:
            self.camera.reset()
        self._last_press_s = now_s
        self._dragging = True
        self._last_cursor = glfw.get_cursor_pos(self.handle)

    def _on_cursor(self, _window, x: float, y: float) -> None:
        if self._dragging and self._last_cursor is not None:
            self.camera.drag(x - self._last_cursor[0], y - self._last_cursor[1])
        self._last_cursor = (x, y)

    def _on_scroll(self, _window, _dx: float, dy: float) -> None:
        if not self.wants_input():
            self.camera.scroll(dy)

    def _on_key(self, _window, key, _scancode, action, _mods) -> None:
        if action != glfw.PRESS or self.wants_input():
            return
        if key == glfw.KEY_R:
            self.camera.reset()
        elif key == glfw.KEY_ESCAPE:
            glfw.set_window_should_close(self.handle, True)


def _glfw_error() -> str:
    code, description = glfw.get_error()
    if description:
        return description.decode() if isinstance(description, bytes) else str(description)
    return f"error {code}" if code else "unknown reason"
