"""One OpenXR swapchain per eye, its images wrapped as moderngl framebuffers.

The runtime owns the images (OpenGL texture names); `ctx.external_texture` wraps a name
without taking ownership, and each image gets a framebuffer with the eye's own depth
buffer. An sRGB colour format is preferred: the GPU then encodes the shader's linear
colour (GL_FRAMEBUFFER_SRGB) and the compositor reads the image as colour managed.
"""

import ctypes

import xr

from app.errors import LivefaceError

GL_RGBA8 = 0x8058
GL_SRGB8_ALPHA8 = 0x8C43
GL_FRAMEBUFFER_SRGB = 0x8DB9
COLOR_FORMATS = (GL_SRGB8_ALPHA8, GL_RGBA8)  # first offered wins


def choose_color_format(offered) -> int:
    for wanted in COLOR_FORMATS:
        if wanted in offered:
            return wanted
    raise LivefaceError("the OpenXR runtime offers no 8-bit RGBA swapchain format "
                        f"(it offers {', '.join(hex(f) for f in offered)}).")


class EyeSwapchain:
    def __init__(self, session: xr.Session, ctx, width: int, height: int, color_format: int):
        self.ctx, self.size = ctx, (int(width), int(height))
        self.srgb = color_format == GL_SRGB8_ALPHA8
        self.handle = xr.create_swapchain(session, xr.SwapchainCreateInfo(
            usage_flags=(xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                         | xr.SwapchainUsageFlags.SAMPLED_BIT),
            format=color_format, sample_count=1, width=self.size[0], height=self.size[1],
            face_count=1, array_size=1, mip_count=1))
        images = xr.enumerate_swapchain_images(self.handle, xr.SwapchainImageOpenGLKHR)
        self._depth = ctx.depth_renderbuffer(self.size)
        self.textures = [ctx.external_texture(int(image.image), self.size, 4, 0, "f1")
                         for image in images]
        self.framebuffers = [ctx.framebuffer(color_attachments=[texture],
                                             depth_attachment=self._depth)
                             for texture in self.textures]
        self.submitted = 0

    def acquire(self):
        """The framebuffer of the next image, once the compositor has let go of it."""
        index = xr.acquire_swapchain_image(self.handle, xr.SwapchainImageAcquireInfo())
        xr.wait_swapchain_image(self.handle,
                                xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION))
        return self.framebuffers[index]

    def release(self) -> None:
        xr.release_swapchain_image(self.handle, xr.SwapchainImageReleaseInfo())
        self.submitted += 1

    def sub_image(self) -> xr.SwapchainSubImage:
        sub = xr.SwapchainSubImage(swapchain=self.handle)
        sub.image_rect.offset[:] = [0, 0]
        sub.image_rect.extent[:] = list(self.size)
        return sub

    def close(self) -> None:
        """Our wrappers first, then the runtime's swapchain (which frees the textures)."""
        for framebuffer in self.framebuffers:
            framebuffer.release()
        self._depth.release()
        self.framebuffers, self.textures = [], []
        if self.handle is not None:
            _quietly(xr.destroy_swapchain, self.handle)
            self.handle = None


def _quietly(call, *args) -> None:
    """Tear-down after a loss: the runtime may already be gone, which is fine here."""
    try:
        call(*args)
    except (xr.XrException, ctypes.ArgumentError, OSError):
        pass
