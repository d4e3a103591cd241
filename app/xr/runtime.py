"""The OpenXR runtime as the app sees it: an instance with the extensions it offers, the
head-mounted system, and the OpenGL context the session will share.

Every way the runtime can be missing ends in a `RuntimeAbsent` (a `LivefaceError`) that
says what to do, including the advice to use the desktop mirror instead.
"""

import contextlib
import ctypes
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import xr

from app.errors import LivefaceError

OPENGL = "XR_KHR_opengl_enable"
EGL = "XR_MNDX_egl_enable"
EYE_GAZE = "XR_EXT_eye_gaze_interaction"
DEPTH = "XR_KHR_composition_layer_depth"
STEREO = xr.ViewConfigurationType.PRIMARY_STEREO
MIRROR_ADVICE = "Without a headset, `liveface mirror` shows the avatar in a desktop window."


class RuntimeAbsent(LivefaceError):
    """No OpenXR runtime (or no headset) to talk to."""


@dataclass(frozen=True)
class EyeConfig:
    width: int
    height: int


def offered_extensions() -> set[str]:
    """The runtime's instance extensions; raises `RuntimeAbsent` when none is installed or
    running."""
    try:
        with loader_messages_hidden():
            properties = xr.enumerate_instance_extension_properties()
    except (xr.XrException, OSError) as err:
        raise RuntimeAbsent(f"no OpenXR runtime is available ({_reason(err)}). Start your "
                            "headset's runtime (SteamVR, Monado, ...) and set it as the "
                            f"active OpenXR runtime. {MIRROR_ADVICE}") from None
    return {_text(p.extension_name) for p in properties}


def connect(graphics: str = "auto") -> "XrRuntime":
    """An instance of the running runtime. `graphics`: "egl" insists on XR_MNDX_egl_enable,
    "platform" uses GLX/WGL even when EGL is offered, "auto" prefers EGL."""
    offered = offered_extensions()
    if graphics == "platform":
        offered.discard(EGL)
    elif graphics == "egl" and EGL not in offered:
        raise RuntimeAbsent(f"the OpenXR runtime offers no {EGL}; try --graphics platform.")
    return XrRuntime(offered)


class XrRuntime:
    """An instance and its head-mounted system; `close()` destroys the instance."""

    def __init__(self, offered: set[str]):
        if OPENGL not in offered:
            raise RuntimeAbsent(f"the OpenXR runtime cannot take OpenGL frames (no {OPENGL}). "
                                + MIRROR_ADVICE)
        self.extensions = [OPENGL] + [name for name in (EGL, EYE_GAZE, DEPTH)
                                        if name in offered]
        try:
            self.instance = xr.create_instance(xr.InstanceCreateInfo(
                application_info=xr.ApplicationInfo("liveface", 1, "liveface", 1),
                enabled_extension_names=self.extensions))
        except xr.XrException as err:
            raise RuntimeAbsent(f"the OpenXR runtime would not start a session for us "
                                f"({_reason(err)}). {MIRROR_ADVICE}") from None
        try:
            self._describe()
        except BaseException:
            self.close()
            raise

    def _describe(self) -> None:
        instance = self.instance
        self.runtime_name = _text(xr.get_instance_properties(instance).runtime_name)
        try:
            self.system = xr.get_system(instance, xr.SystemGetInfo(
                form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except (xr.FormFactorUnavailableError, xr.FormFactorUnsupportedError):
            raise RuntimeAbsent(f"{self.runtime_name} runs but finds no headset; connect it "
                                f"and switch it on. {MIRROR_ADVICE}") from None
        self.system_name = _text(xr.get_system_properties(instance, self.system).system_name)
        self.eyes = [EyeConfig(v.recommended_image_rect_width, v.recommended_image_rect_height)
                     for v in xr.enumerate_view_configuration_views(instance, self.system,
                                                                    STEREO)]
        self.blend_mode = xr.enumerate_environment_blend_modes(instance, self.system, STEREO)[0]
        xr.get_opengl_graphics_requirements_khr(instance, self.system)  # required first
        self.eye_gaze = EYE_GAZE in self.extensions and _supports_eye_gaze(instance, self.system)

    @property
    def uses_egl(self) -> bool:
        return EGL in self.extensions

    @property
    def takes_depth(self) -> bool:
        return DEPTH in self.extensions

    def close(self) -> None:
        if self.instance is not None:
            try:
                xr.destroy_instance(self.instance)
            except (xr.XrException, ctypes.ArgumentError, OSError):
                pass  # a lost runtime may have taken the instance with it
            self.instance = None


def _supports_eye_gaze(instance, system) -> bool:
    """XrSystemEyeGazeInteractionPropertiesEXT, chained onto the system properties."""
    gaze = xr.SystemEyeGazeInteractionPropertiesEXT()
    properties = xr.SystemProperties(next=ctypes.cast(ctypes.pointer(gaze), ctypes.c_void_p))
    result = xr.raw_functions.xrGetSystemProperties(instance, system, ctypes.byref(properties))
    return result >= 0 and bool(gaze.supports_eye_gaze_interaction)


@dataclass
class Graphics:
    """The OpenGL side of a session, kept for the whole run (sessions come and go)."""

    ctx: object  # moderngl.Context
    binding: object  # the XrGraphicsBinding* struct for xrCreateSession's next chain
    get_proc_address: Callable[[str], int | None]
    window: object = None  # the hidden window that owns the context, if any

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
            self.window = None


def create_graphics(runtime: XrRuntime) -> Graphics:
    """The context and binding the session shares.

    EGL when the runtime offers XR_MNDX_egl_enable (no window, no display), otherwise the
    platform's own binding through a hidden glfw window: WGL on Windows, GLX on Linux.
    """
    if runtime.uses_egl:
        return _egl_graphics()
    if sys.platform == "win32":
        from app.xr.desktop_gl import win32_graphics

        return win32_graphics()
    if sys.platform.startswith("linux"):
        from app.xr.desktop_gl import xlib_graphics

        return xlib_graphics()
    raise LivefaceError(f"OpenXR with OpenGL is not supported on {sys.platform}. "
                        + MIRROR_ADVICE)


def _egl_graphics():
    import moderngl

    from app.xr.egl import CurrentEgl

    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as err:  # noqa: BLE001 - moderngl raises plain Exceptions
        raise LivefaceError(f"cannot create an EGL OpenGL 3.3 context ({err}).") from None
    current = CurrentEgl()
    binding = make_binding(xr.GraphicsBindingEGLMNDX, get_proc_address=current.get_proc_address,
                           display=current.display, config=current.config,
                           context=current.context)
    library = current.library

    def get_proc_address(name: str) -> int | None:
        return library.eglGetProcAddress(name.encode())

    return Graphics(ctx, binding, get_proc_address)


def make_binding(struct, **handles):
    """A graphics binding struct from raw handles (addresses as integers): each is cast to
    the field type pyopenxr declares (typed pointers, function pointers, integers)."""
    fields = dict(struct._fields_)
    values = {}
    for name, value in handles.items():
        field = fields[name]
        if isinstance(value, ctypes._Pointer | ctypes._CFuncPtr) or value is None:  # noqa: SLF001
            values[name] = value
        elif hasattr(field, "contents") or hasattr(field, "argtypes") or field is ctypes.c_void_p:
            values[name] = ctypes.cast(ctypes.c_void_p(int(value)), field)
        else:
            values[name] = int(value)
    return struct(**values)


@contextlib.contextmanager
def loader_messages_hidden():
    """The OpenXR loader writes its search for a runtime to stderr; our own message says
    what matters, so its lines are dropped (XR_LOADER_DEBUG=all shows them)."""
    if os.environ.get("XR_LOADER_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _reason(err: BaseException) -> str:
    return type(err).__name__ if not str(err) else f"{type(err).__name__}: {err}"
