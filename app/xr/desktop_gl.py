"""OpenGL for OpenXR on a desktop runtime that takes no EGL (SteamVR, WMR, Oculus PC):
a hidden glfw window owns the context, and the session is told its platform handles,
GLX on Linux (XrGraphicsBindingOpenGLXlibKHR) or WGL on Windows
(XrGraphicsBindingOpenGLWin32KHR)."""

import ctypes
import ctypes.util

import xr

from app.errors import LivefaceError
from app.xr.runtime import Graphics, make_binding

GLX_FBCONFIG_ID = 0x8013


class HiddenWindow:
    """A 1x1 invisible glfw window whose OpenGL 3.3 core context is current."""

    def __init__(self):
        import glfw

        if not glfw.init():
            raise LivefaceError("glfw could not start (no display?); set DISPLAY or use a "
                                "runtime that offers XR_MNDX_egl_enable.")
        glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)
        self.glfw, self.window = glfw, glfw.create_window(1, 1, "liveface", None, None)
        if not self.window:
            glfw.terminate()
            raise LivefaceError("cannot create an OpenGL 3.3 context for the headset.")
        glfw.make_context_current(self.window)

    def close(self) -> None:
        if self.window:
            self.glfw.destroy_window(self.window)
            self.glfw.terminate()
            self.window = None


def _context():
    import moderngl

    return moderngl.create_context(require=330)


def win32_graphics() -> Graphics:
    """The hidden window's context, with the current WGL device context and rendering context."""
    window = HiddenWindow()
    ctx = _context()
    wgl = ctypes.WinDLL("opengl32")  # type: ignore[attr-defined]  # Windows only
    wgl.wglGetCurrentDC.restype = ctypes.c_void_p
    wgl.wglGetCurrentContext.restype = ctypes.c_void_p
    binding = make_binding(xr.GraphicsBindingOpenGLWin32KHR, h_dc=wgl.wglGetCurrentDC(),
                           h_glrc=wgl.wglGetCurrentContext())
    return Graphics(ctx, binding, window.glfw.get_proc_address, window)


def xlib_graphics() -> Graphics:
    """The hidden window's context, with the X display, visual, GLX config, drawable and context of
    the hidden window, the FBConfig found again through the context's GLX_FBCONFIG_ID."""
    window = HiddenWindow()
    ctx = _context()
    glfw = window.glfw
    display = glfw.get_x11_display()
    context = glfw.get_glx_context(window.window)
    drawable = glfw.get_glx_window(window.window)
    glx = ctypes.CDLL(ctypes.util.find_library("GL") or "libGL.so.1")
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    void_p = ctypes.c_void_p
    glx.glXQueryContext.argtypes = [void_p, void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    glx.glXChooseFBConfig.argtypes = [void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                      ctypes.POINTER(ctypes.c_int)]
    glx.glXChooseFBConfig.restype = ctypes.POINTER(void_p)
    glx.glXGetVisualFromFBConfig.argtypes = [void_p, void_p]
    glx.glXGetVisualFromFBConfig.restype = ctypes.POINTER(void_p)  # XVisualInfo*
    x11.XDefaultScreen.argtypes = [void_p]
    config_id = ctypes.c_int()
    glx.glXQueryContext(display, context, GLX_FBCONFIG_ID, ctypes.byref(config_id))
    attributes = (ctypes.c_int * 3)(GLX_FBCONFIG_ID, config_id.value, 0)
    count = ctypes.c_int()
    configs = glx.glXChooseFBConfig(display, x11.XDefaultScreen(display), attributes,
                                    ctypes.byref(count))
    if not configs or count.value < 1:
        window.close()
        raise LivefaceError("GLX would not name the context's framebuffer config.")
    visual = glx.glXGetVisualFromFBConfig(display, configs[0])
    visual_id = visual[1] if visual else 0  # XVisualInfo: Visual *visual; VisualID visualid
    binding = make_binding(xr.GraphicsBindingOpenGLXlibKHR, x_display=_address(display),
                           visualid=visual_id, glx_fbconfig=configs[0],
                           glx_drawable=_address(drawable), glx_context=_address(context))
    return Graphics(ctx, binding, glfw.get_proc_address, window)


def _address(handle) -> int:
    """An X or GLX handle from glfw (an int, or a ctypes pointer) as an integer."""
    if isinstance(handle, int):
        return handle
    return ctypes.cast(handle, ctypes.c_void_p).value or 0
