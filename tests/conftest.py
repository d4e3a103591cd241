"""Shared fixtures: one headless OpenGL context for the whole run, and a tiny avatar built
in code so renderer tests need no asset file. The user's own config folder (settings,
profiles) is never read or written: the run gets an empty one of its own.

As in moderngl's own test suite, the context is created once through EGL and every test
that uses it must leave `ctx.error` clean.
"""

import os
import tempfile

import numpy as np
import pytest
import torch

from app.avatar.model import Avatar, Material, MeshPart, PartRole, empty_morphs
from app.avatar.rig import RIG_INDEX
from app.avatar.texture_controls import REGION_INDEX

# Model tests are tiny; one intra-op thread keeps them from spinning against the GL
# rasteriser's threads (or a neighbour's) on a small machine.
torch.set_num_threads(1)

# platformdirs finds the config folder here (children of the tests inherit it)
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="liveface-test-config-")

TINY_HEAD_CENTER = np.array([0.0, 0.70, 0.0], np.float32)
TINY_HEAD_RADIUS_M = 0.09
TINY_EYE_RADIUS_M = 0.012
TINY_EYE_CENTERS = {
    PartRole.EYE_LEFT: np.array([0.03, 0.72, 0.08], np.float32),  # avatar's left is +X
    PartRole.EYE_RIGHT: np.array([-0.03, 0.72, 0.08], np.float32),
}


@pytest.fixture(scope="session")
def gl_context():
    from app.render.offscreen import create_headless_context

    ctx = create_headless_context()
    yield ctx
    ctx.release()


@pytest.fixture
def ctx(gl_context):
    """The session's context; fails the test if it left an OpenGL error behind."""
    gl_context.error  # reading the error flag clears it
    yield gl_context
    assert gl_context.error == "GL_NO_ERROR"


def uv_sphere(center: np.ndarray, radius: float, segments: int = 32, rings: int = 20):
    """Positions, normals, uvs and counter-clockwise triangles of a sphere."""
    theta = np.linspace(0.0, np.pi, rings + 1)  # from +Y down to -Y
    phi = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    normals = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1)
    normals = normals.reshape(-1, 3).astype(np.float32)
    uvs = np.stack([p / (2 * np.pi), t / np.pi], -1).reshape(-1, 2).astype(np.float32)
    triangles = []
    for r in range(rings):
        for s in range(segments):
            a, b = r * (segments + 1) + s, (r + 1) * (segments + 1) + s
            triangles += [(a, b, b + 1), (a, b + 1, a + 1)]
    return center + radius * normals, normals, uvs, np.array(triangles, np.uint32)


def _part(name, role, material, sphere, morphs=None, regions=None) -> MeshPart:
    positions, normals, uvs, triangles = sphere
    count = len(positions)
    return MeshPart(
        name, role, material, positions.astype(np.float32), normals, uvs, triangles,
        morphs if morphs is not None else empty_morphs(count), empty_morphs(count),
        regions if regions is not None else np.full(count, -1.0, np.float32),
    )


def _head_morphs(positions: np.ndarray) -> np.ndarray:
    """jawOpen drops the front lower half; eyeBlinkLeft pulls a lid over the left eye."""
    morphs = empty_morphs(len(positions))
    below = np.clip((0.69 - positions[:, 1]) / 0.06, 0.0, 1.0) * (positions[:, 2] > 0.0)
    morphs[RIG_INDEX["jawOpen"], :, 1] = -0.03 * below
    left_eye = TINY_EYE_CENTERS[PartRole.EYE_LEFT]
    near = np.linalg.norm(positions[:, :2] - left_eye[:2], axis=1) < 0.022
    lid = near & (positions[:, 2] > 0.0)
    morphs[RIG_INDEX["eyeBlinkLeft"], lid, 2] = 0.02
    return morphs


def _head_regions(positions: np.ndarray) -> np.ndarray:
    regions = np.full(len(positions), -1.0, np.float32)
    front = positions[:, 2] > 0.02
    regions[front & (positions[:, 1] > 0.75)] = REGION_INDEX["forehead"]
    regions[front & (positions[:, 1] < 0.67)] = REGION_INDEX["mouth"]
    regions[front & (np.abs(positions[:, 1] - 0.69) < 0.02) & (np.abs(positions[:, 0]) > 0.035)] = \
        REGION_INDEX["cheeks"]
    return regions


@pytest.fixture(scope="session")
def tiny_avatar() -> Avatar:
    """A sphere head with two eyeballs, a jawOpen and an eyeBlinkLeft target."""
    head = uv_sphere(TINY_HEAD_CENTER, TINY_HEAD_RADIUS_M, 48, 32)
    skin = _part("skin", PartRole.SKIN, Material("skin", (0.8, 0.58, 0.48, 1.0), 0.45), head,
                 _head_morphs(head[0]), _head_regions(head[0]))
    eyes = tuple(
        _part(role.value, role, Material("eye", (1.0, 1.0, 1.0, 1.0), 0.1),
              uv_sphere(center, TINY_EYE_RADIUS_M))
        for role, center in TINY_EYE_CENTERS.items()
    )
    return Avatar(
        name="tiny",
        parts=(skin, *eyes),
        neck_pivot=np.array([0.0, 0.62, 0.0], np.float32),
        eye_centers=dict(TINY_EYE_CENTERS),
        target_names=("eyeBlinkLeft", "jawOpen"),
    )
