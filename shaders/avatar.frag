#version 330 core
// Shades one avatar part by role: skin (wrap-diffuse subsurface approximation, GGX,
// procedural wrinkles, flush), eyes (iris + sharp cornea glint), teeth/tongue (darker
// deeper inside the mouth), anything else plainly, and toon materials (VRM's MToon) as their
// lit base colour stepping to their shade colour, without tone mapping. Output is sRGB encoded.

const float PI = 3.14159265;
const int ROLE_SKIN = 0;
const int ROLE_EYE = 1;
const int ROLE_MOUTH = 2;  // teeth and tongue
const int ROLE_OTHER = 3;
const int ROLE_TOON = 4;   // toon or unlit materials, whatever the part
const int ALPHA_MASK = 1;  // glTF alphaMode MASK: cut out below the cutoff

in vec3 v_world_pos;
in vec3 v_world_normal;
in vec4 v_world_tangent;
in vec3 v_rest_pos;
in vec2 v_uv;
in vec3 v_wrinkle_a;
in vec3 v_wrinkle_b;
in float v_flush;

uniform int u_role;
uniform vec4 u_base_color;
uniform float u_roughness;
uniform bool u_has_base_texture;
uniform bool u_has_normal_texture;
uniform sampler2D u_base_texture;    // sRGB internal format: samples come back linear
uniform sampler2D u_normal_texture;  // tangent space, linear
uniform mat3 u_rotation;             // the part's rigid pose, for rest-space normals
uniform vec3 u_eye_center;           // rest space; this eye's rotation centre
uniform vec3 u_eye_centers[2];       // rest space; avatar's left (+X) then right eye
uniform vec2 u_depth_range;          // rest-space z extent of a mouth part
uniform vec3 u_region_center[6];     // rest-space centroids of the texture regions
uniform vec3 u_camera_pos;
uniform bool u_encode_srgb;
uniform float u_exposure;
uniform int u_alpha_mode;            // 0 opaque, 1 mask, 2 blend
uniform float u_alpha_cutoff;
uniform vec3 u_shade_color;          // linear; toon's shaded side
uniform float u_outline_width;       // > 0 in MToon's outline pass
uniform vec3 u_outline_color;        // linear
uniform float u_outline_mix;         // 1: times the surface's lit colour (MToon lighting mix)

out vec4 f_color;

// ---- lights: a warm key high on the camera's right, a cool fill, a rim from behind ----
const vec3 KEY_DIR = vec3(0.72, 0.45, 0.55);
const vec3 KEY_COLOR = vec3(1.0, 0.92, 0.84) * 1.9;
const vec3 FILL_DIR = vec3(-0.78, 0.05, 0.62);
const vec3 FILL_COLOR = vec3(0.70, 0.80, 1.0) * 0.22;
const vec3 RIM_DIR = vec3(-0.35, 0.55, -0.76);
const vec3 RIM_COLOR = vec3(0.95, 0.97, 1.0) * 2.2;
const vec3 SKY = vec3(0.13, 0.15, 0.18);
const vec3 GROUND = vec3(0.07, 0.05, 0.045);

float ggx(float n_h, float alpha) {
    float a2 = alpha * alpha;
    float d = n_h * n_h * (a2 - 1.0) + 1.0;
    return a2 / (PI * d * d);
}

float smith_visibility(float n_v, float n_l, float alpha) {
    // Height-correlated Smith term folded with the 1/(4 n.v n.l) of the microfacet BRDF.
    float a2 = alpha * alpha;
    float gv = n_l * sqrt(n_v * n_v * (1.0 - a2) + a2);
    float gl = n_v * sqrt(n_l * n_l * (1.0 - a2) + a2);
    return 0.5 / max(gv + gl, 1e-5);
}

float fresnel(float cos_theta, float f0) {
    return f0 + (1.0 - f0) * pow(1.0 - cos_theta, 5.0);
}

float specular(vec3 n, vec3 v, vec3 l, float roughness, float f0) {
    vec3 h = normalize(v + l);
    float n_l = max(dot(n, l), 0.0);
    float n_v = max(dot(n, v), 1e-4);
    float alpha = max(roughness * roughness, 2e-3);
    return ggx(max(dot(n, h), 0.0), alpha) * smith_visibility(n_v, n_l, alpha)
         * fresnel(max(dot(v, h), 0.0), f0) * n_l;
}

// Light scattered under the skin carries red past the geometric terminator: a wider wrap
// for red than for blue, normalised so the lit side keeps its energy.
vec3 skin_diffuse(float n_l) {
    const vec3 wrap = vec3(0.50, 0.20, 0.13);
    vec3 d = clamp((n_l + wrap) / (1.0 + wrap), 0.0, 1.0);
    return pow(d, 1.0 + wrap) * (2.0 + wrap) / (2.0 + 2.0 * wrap);
}

vec3 hemisphere(vec3 n) {
    return mix(GROUND, SKY, n.y * 0.5 + 0.5);
}

// ---- procedural creases: thin valleys between flat skin, along a phase field ----
// Returns (d height / d rest-xy, cavity 0..1) for valleys where sin(phase) = 0.
vec3 crease(float phase, vec2 phase_gradient) {
    float s = sin(phase);
    float valley = 1.0 - abs(s);
    float slope = 3.0 * valley * valley * sign(s) * cos(phase);
    return vec3(phase_gradient * slope, valley * valley * valley);
}

vec3 line_creases(vec2 p, vec2 direction, float spacing_m) {
    vec2 d = normalize(direction);
    return crease(dot(p, d) * PI / spacing_m, d * PI / spacing_m);
}

vec3 crows_feet(vec3 rest) {
    int eye = rest.x >= 0.0 ? 0 : 1;
    float side = rest.x >= 0.0 ? 1.0 : -1.0;
    vec2 corner = u_eye_centers[eye].xy + vec2(side * 0.017, -0.002);
    vec2 q = (rest.xy - corner) * vec2(side, 1.0);  // mirrored: outwards is +x
    float r2 = max(dot(q, q), 1e-8);
    vec2 angle_gradient = vec2(-q.y, q.x) / r2 * vec2(side, 1.0);
    float fade = smoothstep(0.0, 0.005, q.x) * (1.0 - smoothstep(0.018, 0.03, sqrt(r2)));
    return crease(atan(q.y, q.x) * 7.0, angle_gradient * 7.0) * fade;
}

vec3 region_creases(int region, vec3 rest) {
    vec2 p = rest.xy - u_region_center[region].xy;
    float side = rest.x >= 0.0 ? 1.0 : -1.0;
    if (region == 0)  // forehead: a few horizontal lines above the brows
        return line_creases(p, vec2(0.0, 1.0), 0.009)
             * (1.0 - smoothstep(0.025, 0.05, abs(p.x))) * (1.0 - smoothstep(0.012, 0.025, abs(p.y)));
    if (region == 1)  // between the brows: vertical lines near the midline
        return line_creases(p, vec2(1.0, 0.0), 0.0045) * (1.0 - smoothstep(0.006, 0.016, abs(rest.x)));
    if (region == 2)  // crow's feet fanning from the outer eye corners
        return crows_feet(rest);
    if (region == 3)  // bunny lines slanting across the nose bridge
        return line_creases(p, vec2(side * 0.7, 1.0), 0.004);
    if (region == 4)  // one smile fold each side, from the nose wing to the mouth corner
        return line_creases(p - vec2(side * 0.012, 0.0), vec2(side, 0.45), 0.02)
             * (1.0 - smoothstep(0.006, 0.014, abs(dot(p - vec2(side * 0.012, 0.0), normalize(vec2(side, 0.45))))));
    // mouth: fine vertical lines on and just around the lips
    return line_creases(p, vec2(1.0, 0.0), 0.003) * (1.0 - smoothstep(0.008, 0.016, abs(p.y)))
         * (1.0 - smoothstep(0.02, 0.03, abs(p.x)));
}

// Bends the normal along the weighted creases; returns the cavity darkening in w.
vec4 wrinkled_normal(vec3 n) {
    float weights[6] = float[6](v_wrinkle_a.x, v_wrinkle_a.y, v_wrinkle_a.z,
                                v_wrinkle_b.x, v_wrinkle_b.y, v_wrinkle_b.z);
    vec3 slope = vec3(0.0);
    float cavity = 0.0;
    for (int r = 0; r < 6; ++r) {
        if (weights[r] < 1e-3) continue;
        vec3 c = region_creases(r, v_rest_pos) * weights[r];
        slope += vec3(c.xy, 0.0);
        cavity += c.z;
    }
    const float depth_m = 0.00035;  // crease depth at full weight
    vec3 gradient = u_rotation * slope * depth_m;
    return vec4(normalize(n - (gradient - dot(gradient, n) * n)), clamp(cavity, 0.0, 1.0));
}

vec3 mapped_normal(vec3 n) {
    if (!u_has_normal_texture || dot(v_world_tangent.xyz, v_world_tangent.xyz) < 1e-8)
        return n;
    vec3 t = normalize(v_world_tangent.xyz - dot(v_world_tangent.xyz, n) * n);
    vec3 b = cross(n, t) * (v_world_tangent.w < 0.0 ? -1.0 : 1.0);
    vec3 m = texture(u_normal_texture, v_uv).xyz * 2.0 - 1.0;
    return normalize(mat3(t, b, n) * m);
}

vec4 albedo() {
    vec4 base = u_base_color;
    if (u_has_base_texture) base *= texture(u_base_texture, v_uv);
    return base;
}

// ---- per-role shading ----
vec3 light_sum(vec3 n, vec3 v, vec3 albedo_rgb, float roughness, float f0, bool skin) {
    vec3 dirs[3] = vec3[3](normalize(KEY_DIR), normalize(FILL_DIR), normalize(RIM_DIR));
    vec3 colors[3] = vec3[3](KEY_COLOR, FILL_COLOR, RIM_COLOR);
    vec3 total = albedo_rgb * hemisphere(n);
    for (int i = 0; i < 3; ++i) {
        float n_l = dot(n, dirs[i]);
        vec3 diffuse = skin ? skin_diffuse(n_l) : vec3(max(n_l, 0.0));
        // Lights are given as irradiance scaled by pi, hence the pi on the specular term.
        total += colors[i] * (albedo_rgb * diffuse * (i == 2 ? 0.35 : 1.0)
                              + PI * specular(n, v, dirs[i], roughness, f0));
    }
    return total;
}

vec3 shade_skin(vec3 n, vec3 v) {
    vec4 wrinkled = wrinkled_normal(mapped_normal(n));
    vec3 base = albedo().rgb;
    base = mix(base, base * vec3(1.35, 0.62, 0.60), clamp(v_flush, 0.0, 1.0) * 0.65);
    base *= 1.0 - 0.2 * wrinkled.w;
    // Two specular lobes: a broad oily sheen plus a tighter one on the same Fresnel.
    vec3 lit = light_sum(wrinkled.xyz, v, base, u_roughness, 0.028, true);
    vec3 tight = KEY_COLOR * specular(wrinkled.xyz, v, normalize(KEY_DIR), u_roughness * 0.55, 0.028);
    return lit + 0.25 * PI * tight;
}

vec3 procedural_eye(vec3 rest) {
    vec3 d = normalize(rest - u_eye_center);
    float off_axis = length(d.xy);  // 0 at the pupil centre, 1 at the eye's equator
    float angle = atan(d.y, d.x);
    vec3 sclera = mix(vec3(0.82, 0.78, 0.74), vec3(0.75, 0.55, 0.52), smoothstep(0.75, 1.0, off_axis));
    float fibres = 0.75 + 0.25 * sin(angle * 40.0) * sin(angle * 13.0 + off_axis * 30.0);
    vec3 iris = mix(vec3(0.20, 0.33, 0.38), vec3(0.42, 0.30, 0.14), smoothstep(0.35, 0.12, off_axis)) * fibres;
    iris *= 1.0 - 0.7 * smoothstep(0.38, 0.47, off_axis);  // dark limbal ring
    vec3 color = mix(iris, sclera, smoothstep(0.46, 0.50, off_axis));
    return mix(vec3(0.01), color, smoothstep(0.13, 0.16, off_axis));  // pupil
}

vec3 shade_eye(vec3 n, vec3 v) {
    vec3 base = u_has_base_texture ? albedo().rgb : procedural_eye(v_rest_pos);
    vec3 rest_dir = normalize(v_rest_pos - u_eye_center);
    float lid_shadow = mix(0.45, 1.0, smoothstep(0.75, 0.1, rest_dir.y));  // upper lid shade
    vec3 lit = light_sum(n, v, base, 0.35, 0.02, false) * lid_shadow;
    // The wet cornea: a small, sharp reflection of the key and fill lights.
    float glint = specular(n, v, normalize(KEY_DIR), 0.06, 0.04) * 3.0
                + specular(n, v, normalize(FILL_DIR), 0.08, 0.04);
    return lit + PI * glint * KEY_COLOR * lid_shadow;
}

vec3 shade_mouth(vec3 n, vec3 v) {
    float depth = smoothstep(u_depth_range.x, u_depth_range.y, v_rest_pos.z);
    // The mouth cavity shades everything behind the lips; the back is nearly black.
    float occlusion = mix(0.1, 0.85, depth * depth);
    return light_sum(n, v, albedo().rgb, u_roughness, 0.04, false) * occlusion;
}

// MToon reduced to its core: the base colour where the key light reaches, the shade colour
// (times the base texture) past a soft terminator, and a little fill so nothing is black.
vec3 shade_toon(vec3 n, vec4 base) {
    float n_l = dot(n, normalize(KEY_DIR));
    float lit = smoothstep(-0.25, 0.05, n_l);
    vec3 shaded = u_shade_color * (u_has_base_texture ? texture(u_base_texture, v_uv).rgb : vec3(1.0));
    return mix(shaded, base.rgb, lit) * 0.95;
}

vec3 aces_filmic(vec3 x) {
    // Narkowicz's curve fitted to the ACES reference tone mapper.
    return clamp((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14), 0.0, 1.0);
}

vec3 srgb_encode(vec3 c) {
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}

void main() {
    vec3 n = normalize(v_world_normal);
    if (!gl_FrontFacing) n = -n;  // double-sided parts
    vec3 v = normalize(u_camera_pos - v_world_pos);
    vec4 base = albedo();
    if (u_alpha_mode == ALPHA_MASK && base.a < u_alpha_cutoff) discard;
    float alpha = u_alpha_mode == 2 ? base.a : 1.0;
    if (u_outline_width > 0.0) {
        vec3 outline = u_outline_color * mix(vec3(1.0), base.rgb, u_outline_mix);
        f_color = vec4(u_encode_srgb ? srgb_encode(outline) : outline, alpha);
        return;
    }
    if (u_role == ROLE_TOON) {
        vec3 toon = clamp(shade_toon(n, base) * u_exposure, 0.0, 1.0);
        f_color = vec4(u_encode_srgb ? srgb_encode(toon) : toon, alpha);
        return;
    }
    vec3 color;
    if (u_role == ROLE_SKIN) color = shade_skin(n, v);
    else if (u_role == ROLE_EYE) color = shade_eye(n, v);
    else if (u_role == ROLE_MOUTH) color = shade_mouth(n, v);
    else color = light_sum(mapped_normal(n), v, albedo().rgb, u_roughness, 0.04, false);
    color = aces_filmic(color * u_exposure);
    f_color = vec4(u_encode_srgb ? srgb_encode(color) : color, alpha);
}
