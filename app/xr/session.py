"""One OpenXR session: the session handle, its spaces, one swapchain per eye and the eye
tracker, created together and destroyed together (on exit, or after a loss)."""

import ctypes

import numpy as np
import xr

from app.xr.buttons import WizardButtons
from app.xr.gaze import EyeGaze
from app.xr.poses import pose_matrix
from app.xr.runtime import EYE_GAZE, STEREO, Graphics, XrRuntime
from app.xr.swapchain import (EyeSwapchain, FramebufferFunctions, choose_color_format,
                              choose_depth_format)

_POSE_VALID = (xr.SpaceLocationFlags.ORIENTATION_VALID_BIT
               | xr.SpaceLocationFlags.POSITION_VALID_BIT)


class XrSession:
    def __init__(self, runtime: XrRuntime, graphics: Graphics, resolution_scale: float = 1.0,
                 buttons: bool = False):
        """`buttons`: the controllers' buttons that answer the setup wizard, too."""
        self.runtime, self.ctx = runtime, graphics.ctx
        binding = graphics.binding
        self.handle = self.world = self.head = self.gaze = self.buttons = None
        self.swapchains: list[EyeSwapchain] = []
        self.running = False
        self.handle = xr.create_session(runtime.instance, xr.SessionCreateInfo(
            system_id=runtime.system,
            next=ctypes.cast(ctypes.pointer(binding), ctypes.c_void_p)))
        self._binding = binding  # the runtime may read it until the session ends
        try:
            identity = xr.Posef()
            self.world = xr.create_reference_space(self.handle, xr.ReferenceSpaceCreateInfo(
                reference_space_type=xr.ReferenceSpaceType.LOCAL,
                pose_in_reference_space=identity))
            self.head = xr.create_reference_space(self.handle, xr.ReferenceSpaceCreateInfo(
                reference_space_type=xr.ReferenceSpaceType.VIEW,
                pose_in_reference_space=identity))
            formats = xr.enumerate_swapchain_formats(self.handle)
            color = choose_color_format(formats)
            depth = choose_depth_format(formats) if runtime.takes_depth else None
            functions = FramebufferFunctions(graphics.get_proc_address)
            for eye in runtime.eyes:
                size = (max(16, round(eye.width * resolution_scale)),
                        max(16, round(eye.height * resolution_scale)))
                self.swapchains.append(EyeSwapchain(self.handle, self.ctx, functions, size,
                                                    color, depth))
            self._make_inputs(runtime, buttons)
        except BaseException:
            self.close()
            raise

    def _make_inputs(self, runtime: XrRuntime, buttons: bool) -> None:
        """Eye gaze and buttons: their action sets are attached together, once."""
        if EYE_GAZE in runtime.extensions:  # also when the system says it has no eye
            # tracker: the action then stays inactive, and a tracker plugged in later works
            self.gaze = EyeGaze(runtime.instance, self.handle)
        if buttons:
            self.buttons = WizardButtons(runtime.instance, self.handle)
        action_sets = [inputs.action_set for inputs in (self.gaze, self.buttons) if inputs]
        if action_sets:
            xr.attach_session_action_sets(self.handle, xr.SessionActionSetsAttachInfo(
                action_sets=action_sets))
        if self.gaze is not None:
            self.gaze.create_space()

    def begin(self) -> None:
        xr.begin_session(self.handle, xr.SessionBeginInfo(STEREO))
        self.running = True

    def end(self) -> None:
        self.running = False
        xr.end_session(self.handle)

    def request_exit(self) -> None:
        xr.request_exit_session(self.handle)

    def head_pose(self, time: int) -> np.ndarray | None:
        """World-from-head (4x4) at `time`, or None while the headset is not tracked."""
        location = xr.locate_space(self.head, self.world, time)
        if location.location_flags & _POSE_VALID != _POSE_VALID:
            return None
        return pose_matrix(_xyzw(location.pose.orientation), _xyz(location.pose.position))

    def eye_views(self, time: int):
        """[(world-from-eye 4x4, XrFovf)] per eye, or None while not tracked."""
        state, views = xr.locate_views(self.handle, xr.ViewLocateInfo(
            view_configuration_type=STEREO, display_time=time, space=self.world))
        if state.view_state_flags & _POSE_VALID != _POSE_VALID:
            return None
        return [(pose_matrix(_xyzw(v.pose.orientation), _xyz(v.pose.position)), v.fov, v.pose)
                for v in views]

    def close(self) -> None:
        """Everything, newest first; each step tolerates a runtime that is already gone."""
        for inputs in (self.gaze, self.buttons):
            if inputs is not None:
                inputs.close()
        for swapchain in self.swapchains:
            swapchain.close()
        self.swapchains = []
        for handle, destroy in ((self.head, xr.destroy_space), (self.world, xr.destroy_space),
                                (self.handle, xr.destroy_session)):
            if handle is not None:
                try:
                    destroy(handle)
                except (xr.XrException, ctypes.ArgumentError, OSError):
                    pass
        self.handle = self.world = self.head = self.gaze = self.buttons = None
        self.running = False


def _xyzw(q) -> tuple[float, float, float, float]:
    return q.x, q.y, q.z, q.w


def _xyz(p) -> tuple[float, float, float]:
    return p.x, p.y, p.z
