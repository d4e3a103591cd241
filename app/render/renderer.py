"""The avatar renderer: owns every GPU resource of one avatar and draws it into views.

It is told *what* to draw (a rig vector, texture controls, a list of `View`s) and never
*where from*: the mirror window passes one view, XR passes two, the offscreen renderer
passes its own targets. Blendshapes (the avatar's channels: ARKit targets, or a VRM's
expressions) are applied on the GPU (`shaders/avatar.vert`), the head and gaze rotations
are per-part model matrices that each vertex follows by its head weight (a full-body
avatar's body stays put), and all shading lives in `shaders/avatar.frag`.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import moderngl
import numpy as np

from app.avatar.model import Avatar, MeshPart, PartRole
from app.avatar.rig import GAZE_SLICE, HEAD_SLICE, clamp_rig
from app.avatar.texture_controls import NUM_REGIONS, TextureControls
from app.errors import LivefaceError
from app.render.camera import View, gl_matrix_bytes
from app.resources import shader_path

ACTIVE_WEIGHT_EPS = 1e-4  # weights below this are skipped: invisible, and they cost reads
MAX_ACTIVE = 52  # channels one frame may blend (shaders/avatar.vert); the strongest win
MORPH_TEXTURE_WIDTH = 4096
GL_SRGB8_ALPHA8 = 0x8C43
_ROLE_SHADING = {  # shading branch in avatar.frag per part role
    PartRole.SKIN: 0, PartRole.EYE_LEFT: 1, PartRole.EYE_RIGHT: 1,
    PartRole.TEETH: 2, PartRole.TONGUE: 2, PartRole.OTHER: 3,
}
SHADING_TOON = 4  # materials authored for toon or unlit shading (VRM's MToon), any role
_ALPHA_MODES = {"OPAQUE": 0, "MASK": 1, "BLEND": 2}
_VERTEX_LAYOUT = (("in_position", 3), ("in_normal", 3), ("in_uv", 2), ("in_region", 1),
                  ("in_tangent", 4), ("in_head_weight", 1))


# ---- rigid pose from the rig vector (signs as documented in app.avatar.rig) ----

def _rotation_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _about(rotation: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """4x4 rotation about a point: translate(pivot) @ rotation @ translate(-pivot)."""
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = pivot - rotation @ pivot
    return m


def srgb_to_linear(colour) -> tuple[float, ...]:
    """Display (sRGB-encoded) colour components 0..1 to linear light."""
    c = np.clip(np.asarray(colour, np.float64), 0.0, 1.0)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return tuple(float(x) for x in linear)


def head_matrix(rig: np.ndarray, neck_pivot: np.ndarray) -> np.ndarray:
    """Head pose: pitch > 0 nods the chin down (+X rotation moves +Z towards -Y), yaw > 0
    turns the face to the avatar's left (+X), roll > 0 tilts the crown towards +X."""
    pitch, yaw, roll = (float(a) for a in rig[HEAD_SLICE])
    rotation = _rotation_y(yaw) @ _rotation_x(pitch) @ _rotation_z(-roll)
    return _about(rotation, np.asarray(neck_pivot, np.float64))


def gaze_matrix(rig: np.ndarray, eye_center: np.ndarray) -> np.ndarray:
    """Eye rotation: gaze yaw > 0 looks to the avatar's left, pitch > 0 looks up."""
    yaw, pitch = (float(a) for a in rig[GAZE_SLICE])
    return _about(_rotation_y(yaw) @ _rotation_x(-pitch), np.asarray(eye_center, np.float64))


# ---- GPU resources ----

@dataclass
class _GpuPart:
    """One part's buffers, textures and the uniforms that never change."""

    part: MeshPart
    vao: moderngl.VertexArray
    buffers: tuple[moderngl.Buffer, ...]
    base_texture: moderngl.Texture | None
    normal_texture: moderngl.Texture | None
    base_vertex: int
    eye_center: np.ndarray | None
    depth_range: tuple[float, float]  # rest-space z extent, for mouth-cavity occlusion


def _interleaved(part: MeshPart) -> np.ndarray:
    tangents = part.tangents if part.tangents is not None else np.zeros((part.vertex_count, 4))
    head = part.head_weights if part.head_weights is not None else np.ones(part.vertex_count)
    columns = (part.positions, part.normals, part.uvs, part.regions[:, None], tangents, head[:, None])
    return np.hstack([np.asarray(c, np.float32).reshape(part.vertex_count, -1) for c in columns])


def _vertex_format(program: moderngl.Program) -> tuple[str, list[str]]:
    """Buffer format naming only the attributes the linker kept (others are skipped bytes)."""
    fields, names = [], []
    for name, count in _VERTEX_LAYOUT:
        if name in program:
            fields.append(f"{count}f")
            names.append(name)
        else:
            fields.append(f"{count * 4}x")
    return " ".join(fields), names


def _color_texture(ctx: moderngl.Context, image: np.ndarray, srgb: bool) -> moderngl.Texture:
    """A mipmapped RGBA8 texture; sRGB colour is decoded to linear by the sampler."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    # glTF puts the first image row at v = 0, which is also where GL puts the first row
    # uploaded, so the image goes up as stored.
    texture = ctx.texture((image.shape[1], image.shape[0]), 4, image.tobytes(),
                          internal_format=GL_SRGB8_ALPHA8 if srgb else None)
    texture.build_mipmaps()
    texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    texture.anisotropy = 8.0
    return texture


def _float_texture(ctx: moderngl.Context, texels: np.ndarray) -> moderngl.Texture:
    """RGBA32F texture holding `texels` (N, 4) in rows of MORPH_TEXTURE_WIDTH."""
    rows = max(1, -(-len(texels) // MORPH_TEXTURE_WIDTH))
    padded = np.zeros((rows * MORPH_TEXTURE_WIDTH, 4), np.float32)
    padded[: len(texels)] = texels
    texture = ctx.texture((MORPH_TEXTURE_WIDTH, rows), 4, padded.tobytes(), dtype="f4")
    texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
    return texture


def _pack_morphs(avatar: Avatar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deltas of the channels any part uses, as (slot, vertex) rows over all parts.

    Returns (slot_of_target (channels,) with -1 for unused channels, position texels,
    normal texels); texel index = slot * avatar.vertex_count + base vertex + vertex.
    """
    positions = np.concatenate([p.morph_positions for p in avatar.parts], axis=1)
    normals = np.concatenate([p.morph_normals for p in avatar.parts], axis=1)
    channels = positions.shape[0]
    used = np.flatnonzero(np.abs(positions).reshape(channels, positions.shape[1] * 3).max(axis=1, initial=0.0) > 0)
    slot_of_target = np.full(channels, -1, np.int32)
    slot_of_target[used] = np.arange(len(used), dtype=np.int32)

    def texels(deltas: np.ndarray) -> np.ndarray:
        flat = deltas[used].reshape(-1, 3)
        return np.hstack([flat, np.zeros((len(flat), 1), np.float32)])

    return slot_of_target, texels(positions), texels(normals)


def _region_centers(avatar: Avatar) -> np.ndarray:
    """Rest-space centroid of each texture region (the head's centre for absent ones)."""
    low, high = avatar.bounds()
    centers = np.tile((low + high) / 2.0, (NUM_REGIONS, 1)).astype(np.float32)
    points = np.concatenate([p.positions for p in avatar.parts])
    regions = np.concatenate([p.regions for p in avatar.parts]).round().astype(int)
    for region in range(NUM_REGIONS):
        if np.any(regions == region):
            centers[region] = points[regions == region].mean(axis=0)
    return centers


def _eye_center(avatar: Avatar, part: MeshPart) -> np.ndarray | None:
    if part.role not in (PartRole.EYE_LEFT, PartRole.EYE_RIGHT):
        return None
    center = avatar.eye_centers.get(part.role)
    if center is None:  # an asset without explicit centres: the eyeball's middle
        center = (part.positions.min(axis=0) + part.positions.max(axis=0)) / 2.0
    return np.asarray(center, np.float32)


def _upload(program: moderngl.Program, name: str, value) -> None:
    """Set a uniform if the shader kept it; arrays and matrices go as raw bytes."""
    if name not in program:
        return
    if isinstance(value, bytes):
        program[name].write(value)
    else:
        program[name].value = value


def load_program(ctx: moderngl.Context, name: str) -> moderngl.Program:
    """The program built from `shaders/<name>.vert` and `shaders/<name>.frag`."""
    sources = {}
    for stage in ("vert", "frag"):
        path = shader_path(f"{name}.{stage}")
        if not path.is_file():
            raise LivefaceError(f"shader {path} is missing; reinstall liveface.")
        sources[stage] = path.read_text(encoding="utf-8")
    return ctx.program(vertex_shader=sources["vert"], fragment_shader=sources["frag"])


class AvatarRenderer:
    """Draws one avatar with a rig vector and texture controls into any number of views."""

    def __init__(self, ctx: moderngl.Context, avatar: Avatar, exposure: float = 1.0):
        self.ctx = ctx
        self.avatar = avatar
        self.exposure = exposure
        self.program = load_program(ctx, "avatar")
        self._slot_of_target, position_texels, normal_texels = _pack_morphs(avatar)
        self._morph_positions = _float_texture(ctx, position_texels)
        self._morph_normals = _float_texture(ctx, normal_texels)
        self._white = ctx.texture((1, 1), 4, bytes([255, 255, 255, 255]))
        self._parts = self._build_parts()
        self._set_static_uniforms()

    # -- set-up --

    def _build_parts(self) -> list[_GpuPart]:
        parts, base_vertex = [], 0
        layout, names = _vertex_format(self.program)
        for part in self.avatar.parts:
            vbo = self.ctx.buffer(_interleaved(part).tobytes())
            ibo = self.ctx.buffer(np.ascontiguousarray(part.indices, np.uint32).tobytes())
            vao = self.ctx.vertex_array(self.program, [(vbo, layout, *names)], ibo,
                                        index_element_size=4)
            material = part.material
            base = (_color_texture(self.ctx, material.base_color_texture, srgb=True)
                    if material.base_color_texture is not None else None)
            normal = (_color_texture(self.ctx, material.normal_texture, srgb=False)
                      if material.normal_texture is not None and part.tangents is not None
                      else None)
            z = part.positions[:, 2]
            parts.append(_GpuPart(part, vao, (vbo, ibo), base, normal, base_vertex,
                                  _eye_center(self.avatar, part), (float(z.min()), float(z.max()))))
            base_vertex += part.vertex_count
        return parts

    def _set_static_uniforms(self) -> None:
        prog = self.program
        _upload(prog, "u_morph_positions", 0)
        _upload(prog, "u_morph_normals", 1)
        _upload(prog, "u_base_texture", 2)
        _upload(prog, "u_normal_texture", 3)
        _upload(prog, "u_morph_width", MORPH_TEXTURE_WIDTH)
        _upload(prog, "u_vertex_total", self.avatar.vertex_count)
        _upload(prog, "u_region_center", _region_centers(self.avatar).tobytes())
        _upload(prog, "u_eye_centers", self._both_eye_centers().tobytes())

    def _both_eye_centers(self) -> np.ndarray:
        """Rest-space eye centres (avatar's left, right) for the crow's-feet pattern."""
        low, high = self.avatar.bounds()
        guess = {PartRole.EYE_LEFT: np.array([0.032, 0, 0]), PartRole.EYE_RIGHT: np.array([-0.032, 0, 0])}
        centers = []
        for role in (PartRole.EYE_LEFT, PartRole.EYE_RIGHT):
            part = self.avatar.part(role)
            center = _eye_center(self.avatar, part) if part is not None else None
            centers.append(center if center is not None else (low + high) / 2 + guess[role])
        return np.asarray(centers, np.float32)

    # -- per frame --

    def draw(self, rig: np.ndarray, texture: TextureControls, views: Sequence[View],
             background: tuple[float, float, float] | None = None) -> None:
        """Render the face posed by `rig` into each view; clears each viewport first when
        `background` (display colour, 0..1) is given. Bad input is clamped, wrong shapes
        raise `LivefaceError`."""
        rig = clamp_rig(rig)
        controls = texture.clamped()
        self._upload_frame(self.avatar.channel_weights(rig), controls)
        models = [self._model_matrix(rig, gpu) for gpu in self._parts]
        self._morph_positions.use(0)
        self._morph_normals.use(1)
        for view in views:
            self._draw_view(view, models, background)

    def _upload_frame(self, weights: np.ndarray, controls: TextureControls) -> None:
        """Active channels as a compact (slot, weight) list, plus region weights."""
        active = np.flatnonzero((weights > ACTIVE_WEIGHT_EPS) & (self._slot_of_target >= 0))
        if len(active) > MAX_ACTIVE:
            active = active[np.argsort(-weights[active], kind="stable")[:MAX_ACTIVE]]
        slots = np.zeros(MAX_ACTIVE, np.int32)
        values = np.zeros(MAX_ACTIVE, np.float32)
        slots[: len(active)] = self._slot_of_target[active]
        values[: len(active)] = weights[active]
        prog = self.program
        _upload(prog, "u_active_count", len(active))
        _upload(prog, "u_active_slot", slots.tobytes())
        _upload(prog, "u_active_weight", values.tobytes())
        _upload(prog, "u_wrinkle", np.asarray(controls.wrinkle, np.float32).tobytes())
        _upload(prog, "u_flush", np.asarray(controls.flush, np.float32).tobytes())
        _upload(prog, "u_exposure", float(self.exposure))

    def _model_matrix(self, rig: np.ndarray, gpu: _GpuPart) -> np.ndarray:
        model = head_matrix(rig, self.avatar.neck_pivot)
        if gpu.eye_center is not None:
            model = model @ gaze_matrix(self._eye_rig(rig), gpu.eye_center)
        return model.astype(np.float32)

    def _eye_rig(self, rig: np.ndarray) -> np.ndarray:
        """The rig with gaze scaled by the avatar's eye gain (a VRM's look-at ranges)."""
        if self.avatar.gaze_gain == (1.0, 1.0):
            return rig
        scaled = rig.copy()
        scaled[GAZE_SLICE] *= np.asarray(self.avatar.gaze_gain, np.float32)
        return scaled

    def _draw_view(self, view: View, models: list[np.ndarray], background) -> None:
        framebuffer = view.framebuffer or self.ctx.screen or self.ctx.fbo
        framebuffer.use()
        self.ctx.viewport = view.viewport
        if background is not None:
            # A target that encodes sRGB itself encodes the clear colour too: clear with
            # the linear colour that it encodes back to the display colour asked for.
            colour = background if view.encode_srgb else srgb_to_linear(background)
            framebuffer.clear(*colour, 1.0, depth=1.0, viewport=view.viewport)
        prog = self.program
        _upload(prog, "u_view_proj", gl_matrix_bytes(view.projection @ view.view))
        _upload(prog, "u_viewport_aspect", view.viewport[2] / max(view.viewport[3], 1))
        _upload(prog, "u_camera_pos", tuple(float(x) for x in view.eye_position))
        _upload(prog, "u_encode_srgb", bool(view.encode_srgb))
        self.ctx.enable(moderngl.DEPTH_TEST)
        # Opaque and cut-out parts first, then blended ones over them without writing depth.
        for blended in (False, True):
            for gpu, model in zip(self._parts, models):
                if (gpu.part.material.alpha_mode == "BLEND") == blended:
                    self._draw_part(gpu, model)
                    if gpu.part.material.outline_width > 0:
                        self._draw_outline(gpu)
        self.ctx.depth_mask = True
        self.ctx.disable(moderngl.BLEND)

    def _draw_part(self, gpu: _GpuPart, model: np.ndarray) -> None:
        part, prog = gpu.part, self.program
        if part.material.double_sided:
            self.ctx.disable(moderngl.CULL_FACE)
        else:
            self.ctx.enable(moderngl.CULL_FACE)
        _upload(prog, "u_model", gl_matrix_bytes(model))
        _upload(prog, "u_rotation", gl_matrix_bytes(model[:3, :3]))
        _upload(prog, "u_base_vertex", gpu.base_vertex)
        material = part.material
        _upload(prog, "u_role", SHADING_TOON if material.toon else _ROLE_SHADING[part.role])
        _upload(prog, "u_alpha_mode", _ALPHA_MODES.get(material.alpha_mode, 0))
        _upload(prog, "u_alpha_cutoff", float(material.alpha_cutoff))
        _upload(prog, "u_shade_color", tuple(float(c) for c in material.shade_color))
        blended = material.alpha_mode == "BLEND"
        self.ctx.depth_mask = not blended
        if blended:
            self.ctx.enable(moderngl.BLEND)
            self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        else:
            self.ctx.disable(moderngl.BLEND)
        _upload(prog, "u_base_color", tuple(float(c) for c in part.material.base_color))
        _upload(prog, "u_roughness", float(np.clip(part.material.roughness, 0.02, 1.0)))
        _upload(prog, "u_has_base_texture", gpu.base_texture is not None)
        _upload(prog, "u_has_normal_texture", gpu.normal_texture is not None)
        (gpu.base_texture or self._white).use(2)
        (gpu.normal_texture or self._white).use(3)
        if gpu.eye_center is not None:
            _upload(prog, "u_eye_center", tuple(float(x) for x in gpu.eye_center))
        _upload(prog, "u_depth_range", gpu.depth_range)
        _upload(prog, "u_outline_width", 0.0)
        gpu.vao.render(moderngl.TRIANGLES)

    def _draw_outline(self, gpu: _GpuPart) -> None:
        """MToon's outline: the part's back faces pushed out along their normals, in one
        colour (drawn right after the part, whose uniforms still hold)."""
        material, prog = gpu.part.material, self.program
        _upload(prog, "u_outline_width", float(material.outline_width))
        _upload(prog, "u_outline_screen", bool(material.outline_screen))
        _upload(prog, "u_outline_color", tuple(float(c) for c in material.outline_color))
        _upload(prog, "u_outline_mix", float(material.outline_lighting_mix))
        self.ctx.enable(moderngl.CULL_FACE)
        self.ctx.front_face = "cw"  # cull the front faces: only the shell's back shows
        gpu.vao.render(moderngl.TRIANGLES)
        self.ctx.front_face = "ccw"
        _upload(prog, "u_outline_width", 0.0)

    def release(self) -> None:
        """Free every GPU object this renderer made."""
        for gpu in self._parts:
            gpu.vao.release()
            for obj in (*gpu.buffers, gpu.base_texture, gpu.normal_texture):
                if obj is not None:
                    obj.release()
        for obj in (self._morph_positions, self._morph_normals, self._white, self.program):
            obj.release()
        self._parts = []
