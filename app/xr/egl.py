"""The current EGL display, config and context, read through ctypes, for
XR_MNDX_egl_enable: the runtime must share the very context moderngl draws with.

moderngl's EGL backend makes its context current on creation; EGL can name the display
and context that are current, and the config through the context's EGL_CONFIG_ID.
"""

import ctypes
import ctypes.util

from app.errors import LivefaceError

EGL_CONFIG_ID = 0x3028
EGL_NONE = 0x3038


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        egl = ctypes.CDLL(name)
    except OSError:
        raise LivefaceError("libEGL is missing (Debian: apt-get install libegl1 "
                            "libegl-mesa0).") from None
    void_p = ctypes.c_void_p
    egl.eglGetCurrentDisplay.restype = void_p
    egl.eglGetCurrentContext.restype = void_p
    egl.eglGetProcAddress.restype = void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    egl.eglQueryContext.argtypes = [void_p, void_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)]
    egl.eglChooseConfig.argtypes = [void_p, ctypes.POINTER(ctypes.c_int32),
                                    ctypes.POINTER(void_p), ctypes.c_int32,
                                    ctypes.POINTER(ctypes.c_int32)]
    return egl


class CurrentEgl:
    """Handles of the EGL context current on this thread (as integers), and the address of
    eglGetProcAddress, which the runtime uses to find EGL's functions."""

    def __init__(self):
        self.library = egl = _library()
        self.display = egl.eglGetCurrentDisplay()
        self.context = egl.eglGetCurrentContext()
        if not self.display or not self.context:
            raise LivefaceError("no EGL context is current; the headset needs moderngl's EGL "
                                "backend.")
        config_id = ctypes.c_int32()
        if not egl.eglQueryContext(self.display, self.context, EGL_CONFIG_ID,
                                   ctypes.byref(config_id)):
            raise LivefaceError("EGL would not name the context's config.")
        attributes = (ctypes.c_int32 * 3)(EGL_CONFIG_ID, config_id.value, EGL_NONE)
        config = ctypes.c_void_p()
        count = ctypes.c_int32()
        if not egl.eglChooseConfig(self.display, attributes, ctypes.byref(config), 1,
                                   ctypes.byref(count)) or count.value < 1:
            raise LivefaceError(f"EGL has no config with id {config_id.value}.")
        self.config = config.value
        self.get_proc_address = ctypes.cast(egl.eglGetProcAddress, ctypes.c_void_p).value
