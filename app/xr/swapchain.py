"""One OpenXR swapchain per eye, its images wrapped as moderngl framebuffers.

The runtime owns the images (OpenGL texture names). An sRGB colour format is preferred:
the GPU then encodes the shader's linear colour (GL_FRAMEBUFFER_SRGB) and the compositor
reads the image as colour managed. When the runtime takes depth
(XR_KHR_composition_layer_depth), each eye also gets a depth swapchain, so the compositor
can reproject with real depth; otherwise the eye draws into a depth texture of its own.

Colour and depth images are acquired independently, so a framebuffer is made (with raw GL:
moderngl attaches no foreign depth texture) for each pair of images met, and kept.
"""

import ctypes

import xr

from app.errors import LivefaceError
from app.render.offscreen import gl_function

GL_RGBA8 = 0x8058
GL_SRGB8_ALPHA8 = 0x8C43
GL_FRAMEBUFFER_SRGB = 0x8DB9
COLOR_FORMATS = (GL_SRGB8_ALPHA8, GL_RGBA8)  # first offered wins
GL_DEPTH_COMPONENT24, GL_DEPTH_COMPONENT32F = 0x81A6, 0x8CAC
GL_DEPTH24_STENCIL8, GL_DEPTH_COMPONENT16 = 0x88F0, 0x81A5
DEPTH_FORMATS = (GL_DEPTH_COMPONENT24, GL_DEPTH_COMPONENT32F, GL_DEPTH24_STENCIL8,
                 GL_DEPTH_COMPONENT16)
GL_FRAMEBUFFER, GL_TEXTURE_2D = 0x8D40, 0x0DE1
GL_COLOR_ATTACHMENT0, GL_DEPTH_ATTACHMENT, GL_DEPTH_STENCIL_ATTACHMENT = 0x8CE0, 0x8D00, 0x821A
GL_FRAMEBUFFER_COMPLETE = 0x8CD5


def choose_color_format(offered) -> int:
    for wanted in COLOR_FORMATS:
        if wanted in offered:
            return wanted
    raise LivefaceError("the OpenXR runtime offers no 8-bit RGBA swapchain format "
                        f"(it offers {', '.join(hex(f) for f in offered)}).")


def choose_depth_format(offered) -> int | None:
    return next((wanted for wanted in DEPTH_FORMATS if wanted in offered), None)


class FramebufferFunctions:
    """The few GL calls moderngl does not expose, through the context's proc address."""

    def __init__(self, get_proc_address):
        def gl(name: str, restype, *arguments):
            return gl_function(get_proc_address, name, restype, *arguments)

        uint, int_ = ctypes.c_uint, ctypes.c_int
        self.gen = gl("glGenFramebuffers", None, int_, ctypes.POINTER(uint))
        self.delete = gl("glDeleteFramebuffers", None, int_, ctypes.POINTER(uint))
        self.bind = gl("glBindFramebuffer", None, uint, uint)
        self.attach = gl("glFramebufferTexture2D", None, uint, uint, uint, uint, int_)
        self.status = gl("glCheckFramebufferStatus", uint, uint)

    def make(self, color: int, depth: int, depth_attachment: int) -> int:
        name = ctypes.c_uint()
        self.gen(1, ctypes.byref(name))
        self.bind(GL_FRAMEBUFFER, name)
        self.attach(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, color, 0)
        self.attach(GL_FRAMEBUFFER, depth_attachment, GL_TEXTURE_2D, depth, 0)
        status = self.status(GL_FRAMEBUFFER)
        self.bind(GL_FRAMEBUFFER, 0)
        if status != GL_FRAMEBUFFER_COMPLETE:
            self.delete(1, ctypes.byref(name))
            raise LivefaceError(f"the headset's swapchain images make no complete framebuffer "
                                f"(status {status:#x}).")
        return name.value


class _Chain:
    """One swapchain and the GL names of its images."""

    def __init__(self, session, usage, format_: int, size: tuple[int, int]):
        self.handle = xr.create_swapchain(session, xr.SwapchainCreateInfo(
            usage_flags=usage, format=format_, sample_count=1, width=size[0], height=size[1],
            face_count=1, array_size=1, mip_count=1))
        self.images = [int(image.image) for image in
                       xr.enumerate_swapchain_images(self.handle, xr.SwapchainImageOpenGLKHR)]
        self.size = size

    def acquire(self) -> int:
        index = xr.acquire_swapchain_image(self.handle, xr.SwapchainImageAcquireInfo())
        xr.wait_swapchain_image(self.handle,
                                xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
        return index

    def release(self) -> None:
        xr.release_swapchain_image(self.handle, xr.SwapchainImageReleaseInfo())

    def sub_image(self) -> xr.SwapchainSubImage:
        sub = xr.SwapchainSubImage(swapchain=self.handle)
        sub.image_rect.offset[:] = [0, 0]
        sub.image_rect.extent[:] = list(self.size)
        return sub

    def close(self) -> None:
        if self.handle is not None:
            _quietly(xr.destroy_swapchain, self.handle)
            self.handle = None


class EyeSwapchain:
    def __init__(self, session: xr.Session, ctx, gl: FramebufferFunctions, size,
                 color_format: int, depth_format: int | None):
        self.ctx, self.gl, self.size = ctx, gl, (int(size[0]), int(size[1]))
        self.srgb = color_format == GL_SRGB8_ALPHA8
        self.color = _Chain(session, xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                            | xr.SwapchainUsageFlags.SAMPLED_BIT, color_format, self.size)
        self.depth = self._own_depth = None
        self._depth_attachment = GL_DEPTH_ATTACHMENT
        try:
            if depth_format is not None:
                self.depth = _Chain(session, xr.SwapchainUsageFlags.DEPTH_STENCIL_ATTACHMENT_BIT,
                                    depth_format, self.size)
                if depth_format == GL_DEPTH24_STENCIL8:
                    self._depth_attachment = GL_DEPTH_STENCIL_ATTACHMENT
            else:
                self._own_depth = ctx.depth_texture(self.size)
        except BaseException:
            self.close()
            raise
        self._framebuffers: dict[tuple[int, int], tuple[int, object]] = {}
        self._acquired: tuple[int, int] | None = None
        self.submitted = 0

    def acquire(self):
        """The framebuffer of the next colour (and depth) image, once the compositor has
        let go of them."""
        color = self.color.acquire()
        depth = self.depth.acquire() if self.depth is not None else 0
        self._acquired = (color, depth)
        if self._acquired not in self._framebuffers:
            depth_name = (self.depth.images[depth] if self.depth is not None
                          else self._own_depth.glo)
            name = self.gl.make(self.color.images[color], depth_name, self._depth_attachment)
            self._framebuffers[self._acquired] = (name, self.ctx.detect_framebuffer(name))
        return self._framebuffers[self._acquired][1]

    def release(self) -> None:
        self.color.release()
        if self.depth is not None:
            self.depth.release()
        self.submitted += 1

    def sub_image(self) -> xr.SwapchainSubImage:
        return self.color.sub_image()

    def depth_sub_image(self) -> xr.SwapchainSubImage | None:
        return self.depth.sub_image() if self.depth is not None else None

    def close(self) -> None:
        """Our framebuffers first, then the runtime's swapchains (which own the images)."""
        for name, _ in getattr(self, "_framebuffers", {}).values():
            self.gl.delete(1, ctypes.byref(ctypes.c_uint(name)))
        self._framebuffers = {}
        if self._own_depth is not None:
            self._own_depth.release()
            self._own_depth = None
        for chain in (self.color, self.depth):
            if chain is not None:
                chain.close()


def _quietly(call, *args) -> None:
    """Tear-down after a loss: the runtime may already be gone, which is fine here."""
    try:
        call(*args)
    except (xr.XrException, ctypes.ArgumentError, OSError):
        pass
