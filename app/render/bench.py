"""Renderer throughput: frames per second for the mirror window and for a stereo headset.

Each frame gets a new rig (so the morph path and uniforms really change) and ends with
`ctx.finish()`, which waits for the GPU without the cost of reading pixels back; that is
what a display loop pays. Numbers are reported, never asserted: they depend on the GPU.
"""

import time

import numpy as np

from app.avatar.model import Avatar
from app.machine import cpu_model
from app.avatar.rig import RIG_INDEX, neutral_rig
from app.avatar.texture_controls import TextureControls, texture_controls_from_rig
from app.render.camera import portrait_view, stereo_views
from app.render.offscreen import OffscreenTarget, create_headless_context
from app.render.renderer import AvatarRenderer

MONO_SIZE = (1280, 720)
STEREO_EYE_SIZE = (1832, 1920)  # per-eye swapchain size of a Quest-class headset
BACKGROUND = (0.08, 0.09, 0.11)


def talking_rig(frame: int) -> np.ndarray:
    """A rig that changes every frame: jaw, smile, blinks, a slow head turn and gaze."""
    t = frame / 72.0
    rig = neutral_rig()
    rig[RIG_INDEX["jawOpen"]] = 0.5 + 0.5 * np.sin(t * 9.0)
    rig[RIG_INDEX["mouthSmileLeft"]] = rig[RIG_INDEX["mouthSmileRight"]] = 0.4 + 0.3 * np.sin(t)
    rig[RIG_INDEX["eyeBlinkLeft"]] = rig[RIG_INDEX["eyeBlinkRight"]] = float(frame % 90 < 6)
    rig[RIG_INDEX["browInnerUp"]] = 0.5 + 0.5 * np.sin(t * 0.7)
    rig[RIG_INDEX["headYaw"]] = 0.3 * np.sin(t * 0.5)
    rig[RIG_INDEX["gazeYaw"]] = 0.2 * np.sin(t * 1.3)
    return rig


def _frames_per_second(ctx, draw_frame, seconds: float) -> tuple[float, int]:
    draw_frame(0)  # warm-up: shader compilation and first uploads are not steady state
    ctx.finish()
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or frames < 2:
        frames += 1
        draw_frame(frames)
        ctx.finish()
    return frames / (time.perf_counter() - start), frames


def bench_render(avatar: Avatar, seconds: float = 3.0, samples: int = 4,
                 talking: bool = True) -> dict:
    """Frames per second at 1280x720 (mono) and 2x1832x1920 (stereo, two targets), with a
    talking rig (else the neutral face held still)."""
    ctx = create_headless_context()
    renderer = AvatarRenderer(ctx, avatar)
    mono = OffscreenTarget(ctx, *MONO_SIZE, samples=samples)
    eyes = [OffscreenTarget(ctx, *STEREO_EYE_SIZE, samples=samples) for _ in range(2)]
    mono_view = portrait_view(avatar.frame_bounds(), *MONO_SIZE, mono.framebuffer)
    center = portrait_view(avatar.frame_bounds(), *STEREO_EYE_SIZE)
    stereo = stereo_views(center, framebuffers=(eyes[0].framebuffer, eyes[1].framebuffer))

    def frame_controls(frame: int) -> tuple[np.ndarray, TextureControls]:
        rig = talking_rig(frame) if talking else neutral_rig()
        return rig, texture_controls_from_rig(rig, flush=0.3)

    def draw(views):
        return lambda frame: renderer.draw(*frame_controls(frame), views, background=BACKGROUND)

    try:
        mono_fps, mono_frames = _frames_per_second(ctx, draw([mono_view]), seconds)
        stereo_fps, stereo_frames = _frames_per_second(ctx, draw(list(stereo)), seconds)
        device = f"{ctx.info['GL_RENDERER']} ({ctx.info['GL_VERSION']}); CPU {cpu_model()}"
    finally:
        for target in (mono, *eyes):
            target.release()
        renderer.release()
        ctx.release()
    return {
        "device": device,
        "mono_1280x720_fps": round(mono_fps, 2),
        "stereo_2x1832x1920_fps": round(stereo_fps, 2),
        "frames": {"mono": mono_frames, "stereo": stereo_frames},
        "msaa_samples": samples, "rig": "talking" if talking else "still",
    }
